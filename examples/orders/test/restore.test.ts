import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const tsx = join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'cli.mjs');
const run = (script: string, input?: string) =>
  execFileSync(process.execPath, [tsx, '--conditions=source', join(here, 'processes', script)], {
    cwd: join(here, '..'),
    input,
    encoding: 'utf8',
  });

describe('an instance saved midway', () => {
  it('is restored in a fresh process and resumed there', () => {
    const saved = run('save.ts');
    expect(JSON.parse(saved)).toMatchObject({ format: 'fsmkit.instance/1', record: { status: 'paused', currentState: 'charge' } });
    const result = JSON.parse(run('resume.ts', saved)) as { status: string; placedAtIsDate: boolean; placedAt: string; pid: number; handlers: string[] };
    expect(result.pid).not.toBe(process.pid);
    expect(result.status).toBe('done');
    expect(result.placedAtIsDate).toBe(true);
    expect(result.placedAt).toBe('2026-11-22T09:30:00.250Z');
    expect(result.handlers).toEqual(['reserveStock', 'requestPayment', 'charge', 'ship']);
  });
});
