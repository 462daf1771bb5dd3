/** A URL as it may be shown (results, logs, errors): any user and password in it removed. */
export function withoutCredentials(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//'); // not parseable: still drop a userinfo part
  }
  u.username = '';
  u.password = '';
  return u.toString();
}
