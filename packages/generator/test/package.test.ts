import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TEMPLATE_FILES } from '../src/emit/templates.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

describe('the published generator package', () => {
  const out = mkdtempSync(join(tmpdir(), 'fsm-pack-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('carries the default templates, which live at the repository root, and leaves no copy behind', () => {
    execFileSync('pnpm', ['pack', '--pack-destination', out], { cwd: packageDir, stdio: 'pipe' });
    const [tarball] = readdirSync(out);
    const files = execFileSync('tar', ['tzf', join(out, tarball!)], { encoding: 'utf8' }).split('\n');
    for (const file of Object.values(TEMPLATE_FILES)) expect(files).toContain(`package/templates/${file}`);
    expect(readdirSync(packageDir)).not.toContain('templates');
  });
});
