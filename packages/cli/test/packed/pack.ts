/**
 * Builds and packs every package of the repository as `pnpm pack` would for publishing, and
 * reads what a tarball holds. The packed-install test installs these tarballs elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, type Dirent } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const PACKAGES = ['decorators', 'runtime', 'generator', 'mysql', 'kafka', 'server', 'cli'] as const;
export type PackageName = (typeof PACKAGES)[number];

export interface Packed {
  /** `@fsmkit/<name>` -> absolute path of its tarball. */
  tarballs: Map<string, string>;
  dir: string;
}

/**
 * The environment of a command run "as a user": none of the variables that pnpm or vitest set
 * for this repository's scripts (npm_config_*, NODE_OPTIONS, ...) leak into it.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|VITEST|NODE_OPTIONS$|NODE_PATH$|TSX_|INIT_CWD$)/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs `pnpm build` (incremental), then `pnpm pack` in each package into a new temp folder. */
export function buildAndPack(): Packed {
  execFileSync('pnpm', ['-r', '--filter', './packages/*', 'run', 'build'], { cwd: repoRoot, stdio: 'pipe', env: cleanEnv() });
  const dir = mkdtempSync(join(tmpdir(), 'fsm-packed-'));
  const out = join(dir, 'tarballs');
  mkdirSync(out);
  const tarballs = new Map<string, string>();
  for (const name of PACKAGES) {
    const before = new Set(readdirSync(out));
    execFileSync('pnpm', ['pack', '--pack-destination', out], { cwd: join(repoRoot, 'packages', name), stdio: 'pipe', env: cleanEnv() });
    const made = readdirSync(out).find((f) => !before.has(f) && f.endsWith('.tgz'));
    if (made === undefined) throw new Error(`pnpm pack wrote no tarball for packages/${name}`);
    tarballs.set(`@fsmkit/${name}`, join(out, made));
  }
  return { tarballs, dir };
}

/** The files of a tarball (paths under `package/`), and a reader for one of them; unpacked once, beside it. */
export function tarball(file: string): { files: string[]; read(path: string): string } {
  const dir = `${file}.d`;
  if (!existsSync(dir)) {
    mkdirSync(dir);
    execFileSync('tar', ['-xzf', file, '-C', dir]);
  }
  const root = join(dir, 'package');
  const files = (readdirSync(root, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'));
  return { files, read: (path) => readFileSync(join(root, path), 'utf8') };
}

export function removePacked(packed: Packed | undefined): void {
  if (packed) rmSync(packed.dir, { recursive: true, force: true });
}

/** The commands of the readme's "Install in your project" section, one per line. */
export function readmeInstallCommands(): string[] {
  const text = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = /^## Install in your project\n([\s\S]*?)^## /m.exec(text)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Install in your project" section');
  const block = /^```sh\n([\s\S]*?)^```$/m.exec(section)?.[1];
  if (block === undefined) throw new Error('the install section has no ```sh block');
  return block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
}
