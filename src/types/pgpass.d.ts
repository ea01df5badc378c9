// The pgpass package (CommonJS, untyped): libpq's password file lookup, as pg itself uses it.
declare module 'pgpass' {
  interface ConnectionInfo {
    readonly host?: string;
    readonly port?: number | string;
    readonly database?: string;
    readonly user?: string;
  }
  export default function pgpass(connInfo: ConnectionInfo, callback: (password: string | undefined) => void): void;
}
