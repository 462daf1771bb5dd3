// The parts of raw-socket (a native addon without published types) the monitor uses.
declare module 'raw-socket' {
  import { EventEmitter } from 'node:events';

  export interface RawSocket extends EventEmitter {
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      address: string,
      beforeCallback: (() => void) | null,
      afterCallback: (error: Error | null, bytes: number) => void,
    ): void;
    close(): void;
    setOption(level: number, option: number, value: number): void;
    pauseRecv(): RawSocket;
    resumeRecv(): RawSocket;
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'close', listener: () => void): this;
    /**
     * The native socket under the queue (raw.cc's SocketWrap, not part of the documented API):
     * `send` is one non-blocking sendto, `recv` one recvfrom; each calls back at once or throws
     * the errno's text (EAGAIN: "Resource temporarily unavailable").
     */
    wrap?: {
      send(buffer: Buffer, offset: number, length: number, address: string, callback: (bytes: number) => void): void;
      recv(buffer: Buffer, callback: (buffer: Buffer, bytes: number, source: string) => void): void;
    };
  }

  export const Protocol: { None: number; ICMP: number; TCP: number; UDP: number; ICMPv6: number };
  export const AddressFamily: { IPv4: number; IPv6: number };
  export const SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number };
  export const SocketOption: { SO_RCVBUF: number; SO_SNDBUF: number };
  export function createSocket(options?: { addressFamily?: number; protocol?: number; bufferSize?: number; generateChecksums?: boolean; checksumOffset?: number }): RawSocket;

  const raw: { createSocket: typeof createSocket; Protocol: typeof Protocol; AddressFamily: typeof AddressFamily; SocketLevel: typeof SocketLevel; SocketOption: typeof SocketOption };
  export default raw;
}
