/**
 * CPU time of the MariaDB server threads that serve this process's connections, and of this
 * process: on a machine shared with other jobs, the whole server's CPU counts theirs too, and
 * cycles per second swing with them, where the CPU a cycle costs on its own connections does
 * not. MariaDB runs a thread per connection and names it in `information_schema.PROCESSLIST`
 * (`TID`); a connection is ours when its client port is one of this process's sockets. Linux
 * and a local MariaDB only: elsewhere the server figure is NaN.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Pool, RowDataPacket } from 'mysql2/promise';

/** This process's TCP sockets, by local port. */
function ownPorts(): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (socket) inodes.add(socket[1]!);
    } catch {
      // closed while we looked
    }
  }
  const ports = new Set<number>();
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(':').pop()!, 16));
    }
  }
  return ports;
}

function serverPid(): string | undefined {
  return readdirSync('/proc').find((pid) => {
    try {
      return /^\d+$/.test(pid) && ['mariadbd', 'mysqld'].includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      return false;
    }
  });
}

/** Microseconds of CPU so far, by server thread. */
function threadCpu(pid: string, tids: Iterable<number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of tids) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10_000);
    } catch {
      // the connection ended: its thread's time is lost
    }
  }
  return out;
}

/** Starts counting; `stop()` returns the microseconds spent since by this process and by the server threads of its connections. */
export async function ownCpu(pool: Pool): Promise<{ stop(): Promise<{ client: number; server: number }> }> {
  const pid = serverPid();
  const threads = async (): Promise<number[]> => {
    if (pid === undefined) return [];
    const ports = ownPorts();
    const [rows] = await pool.query<RowDataPacket[]>('SELECT `HOST`, `TID` FROM information_schema.PROCESSLIST').catch(() => [[] as RowDataPacket[]]);
    return rows.filter((r) => ports.has(Number(String(r['HOST']).split(':').pop()))).map((r) => Number(r['TID']));
  };
  const tids = await threads();
  const server0 = pid === undefined ? new Map<number, number>() : threadCpu(pid, tids);
  const client0 = process.cpuUsage();
  return {
    async stop() {
      const client = process.cpuUsage(client0);
      // Connections opened meanwhile count from their start.
      const now = pid === undefined ? new Map<number, number>() : threadCpu(pid, new Set([...tids, ...(await threads())]));
      let server = pid === undefined || now.size === 0 ? NaN : 0;
      for (const [tid, us] of now) server += us - (server0.get(tid) ?? 0);
      return { client: client.user + client.system, server };
    },
  };
}
