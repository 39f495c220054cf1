import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const TEMPLATE_FILES = { runner: 'runner.ts.hbs', diagram: 'diagram.mmd.hbs' } as const;

type TemplateName = keyof typeof TEMPLATE_FILES;
export type Templates = Record<TemplateName, (context: object) => string>;

/**
 * The templates shipped with fsmkit: `templates/` next to the package when published, else
 * the repository's root `templates/` (this file sits two folders below the package root).
 */
export function defaultTemplatesDir(): string {
  const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
  const packaged = join(packageRoot, 'templates');
  return existsSync(join(packaged, TEMPLATE_FILES.runner)) ? packaged : join(packageRoot, '..', '..', 'templates');
}

/** Compiles every template, taking each from `overrideDir` when it has one, else the default. */
export function loadTemplates(overrideDir?: string): Templates {
  const handlebars = Handlebars.create();
  const defaults = defaultTemplatesDir();
  const compile = (file: string) => {
    const custom = overrideDir ? join(overrideDir, file) : undefined;
    const path = custom && existsSync(custom) ? custom : join(defaults, file);
    // Output is code, not HTML: no escaping. Strict: a misspelt field fails instead of printing nothing.
    const template = handlebars.compile(readFileSync(path, 'utf8'), { noEscape: true, strict: true });
    return (context: object) => template(context);
  };
  return { runner: compile(TEMPLATE_FILES.runner), diagram: compile(TEMPLATE_FILES.diagram) };
}
