/**
 * The consumer: the VNF manager's webhook that receives the Aodh event alarm at
 * POST /failure and records, per alarm, when it first arrived.
 */
export { Consumer, alarmNotificationSchema, type AlarmNotification, type ReceivedAlarm } from './consumer.js';
export { createConsumerApp } from './app.js';
