// Which hosts are this machine: the loopback names and addresses that keep a
// listener or an unencrypted connection off the network.

/** `host` as a URL or flag gives it; brackets around an IPv6 address ([::1]) are allowed. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}
