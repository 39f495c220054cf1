import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ts } from 'ts-morph';
import { tsc } from './ts.js';
import { resolveRelative } from './data-type.js';
import { parse } from './parse.js';
import { fileTypes, syntaxSchema, type FileTypes } from './syntax-schema.js';
import { typeToSchema } from './type-schema.js';
import type { JsonSchema } from './types.js';

const LIB_FILE = '/__fsmkit__/lib.d.ts';

/**
 * The few globals data types use, declared shape-only. The checker needs no more to resolve
 * interfaces, aliases, unions, generics and imports between the given files, and this costs
 * nothing to parse, where the standard lib (and Date, Map, Set from it) costs a large share of
 * a generate run. Anything not declared here resolves to `any`, whose schema is `{}`.
 */
const MINIMAL_LIB = `
interface Array<T> { length: number; [n: number]: T; }
interface ReadonlyArray<T> { readonly length: number; readonly [n: number]: T; }
interface TemplateStringsArray extends ReadonlyArray<string> {}
interface Boolean {}
interface Number {}
interface String {}
interface BigInt {}
interface Symbol {}
interface Object {}
interface Function {}
interface CallableFunction extends Function {}
interface NewableFunction extends Function {}
interface IArguments {}
interface RegExp {}
interface Promise<T> {}
interface Date { getTime(): number; }
interface Map<K, V> { readonly size: number; }
interface ReadonlyMap<K, V> { readonly size: number; }
interface Set<T> { readonly size: number; }
interface ReadonlySet<T> { readonly size: number; }
type Partial<T> = { [P in keyof T]?: T[P] };
type Required<T> = { [P in keyof T]-?: T[P] };
type Readonly<T> = { readonly [P in keyof T]: T[P] };
type Pick<T, K extends keyof T> = { [P in K]: T[P] };
type Record<K extends keyof any, T> = { [P in K]: T };
type Exclude<T, U> = T extends U ? never : T;
type Extract<T, U> = T extends U ? T : never;
type Omit<T, K extends keyof any> = Pick<T, Exclude<keyof T, K>>;
type NonNullable<T> = T & {};
`;

const ALIAS = '__fsmkitData';

/**
 * JSON Schemas of data types, through the type checker, cheaply: the checker sees a type-only
 * copy of each file (relative imports, interfaces, type aliases, enums, plain classes; no
 * machine classes, no function bodies) plus an alias per requested type, the files those
 * import relatively, and a minimal lib. Binding a thousand full machine files would cost more
 * than parsing them; this keeps the checker's share small while it still resolves aliases,
 * generics, intersections and imports between files. The full syntax trees can be dropped as
 * soon as `add` has seen them.
 */
export class SchemaCollector {
  /** Per file with a request: what its top level declares, its project imports, and its type-only copy once the checker needs it. */
  private readonly files = new Map<string, { types: FileTypes; targets: Map<ts.Statement, string>; lines?: string[] }>();
  private readonly follow: string[] = [];
  /** A schema read from the syntax, or the alias the checker resolves. */
  private readonly requests: Array<{ schema: JsonSchema } | { file: string; alias: string }> = [];
  private readonly syntax: boolean;

  /**
   * `compilerOptions` come from the project's tsconfig: its `paths` let imports through aliases
   * resolve. `imports` records, for every file reduced, the project files it imports.
   * `syntax: false` sends every type through the checker (tests compare the two ways).
   */
  constructor(
    private readonly compilerOptions: ts.CompilerOptions = {},
    private readonly imports: Map<string, Set<string>> = new Map(),
    options: { syntax?: boolean } = {},
  ) {
    // Without strict null checks the checker folds `null` and `undefined` away; the syntax does not.
    this.syntax = (options.syntax ?? true) && compilerOptions.strictNullChecks !== false;
  }

  /** Asks for the schema of `node` (a type written in `sourceFile`); returns its index in `derive()`. */
  add(sourceFile: ts.SourceFile, node: ts.TypeNode): number {
    const { fileName } = sourceFile;
    let file = this.files.get(fileName);
    if (!file) this.files.set(fileName, (file = { types: fileTypes(sourceFile), targets: this.projectImports(sourceFile) }));
    const schema = this.syntax ? syntaxSchema(node, file.types) : undefined;
    if (schema) return this.requests.push({ schema }) - 1;
    file.lines ??= [this.typeOnlyText(sourceFile, file.targets)];
    const alias = `${ALIAS}${file.lines.length - 1}`;
    file.lines.push(`export type ${alias} = ${node.getText(sourceFile)};`);
    return this.requests.push({ file: fileName, alias }) - 1;
  }

  /** Every requested schema, in the order of `add`; `onProgress` hears of each one. */
  derive(onProgress?: (done: number, total: number) => void): JsonSchema[] {
    if (this.requests.length === 0) return [];
    const texts = new Map<string, string>();
    for (const [file, { lines }] of this.files) if (lines) texts.set(file, lines.join('\n'));
    // A checker only when some type needs one; it sees the files reached through imports,
    // followed transitively, each reduced the same way.
    if (texts.size > 0) {
      for (let file = this.follow.pop(); file !== undefined; file = this.follow.pop()) {
        if (!texts.has(file) && existsSync(file)) texts.set(file, this.typeOnlyText(parse(file, readFileSync(file, 'utf8'))));
      }
    }
    const files = new Map([...texts].map(([file, text]) => [file, parse(file, text)]));
    const checker = files.size > 0 ? createChecker(files, this.compilerOptions) : undefined;
    return this.requests.map((request, i) => {
      onProgress?.(i, this.requests.length);
      if ('schema' in request) return request.schema;
      const declaration = files
        .get(request.file)!
        .statements.find((s): s is ts.TypeAliasDeclaration => tsc.isTypeAliasDeclaration(s) && s.name.text === request.alias);
      return declaration ? typeToSchema(checker!.getTypeFromTypeNode(declaration.type), checker!) : {};
    });
  }

  /** The project files a file imports (or re-exports from), by statement; recorded in `imports`. */
  private projectImports(sourceFile: ts.SourceFile): Map<ts.Statement, string> {
    const targets = new Map<ts.Statement, string>();
    for (const statement of sourceFile.statements) {
      if (!(tsc.isImportDeclaration(statement) || tsc.isExportDeclaration(statement))) continue;
      const specifier = statement.moduleSpecifier;
      if (!specifier || !tsc.isStringLiteral(specifier)) continue;
      // Packages are not read (their types come out as `any`): only imports of project files count.
      const target = this.projectFile(specifier.text, sourceFile.fileName);
      if (target === undefined) continue;
      targets.set(statement, target);
      addImport(this.imports, sourceFile.fileName, target);
    }
    return targets;
  }

  /** The declarations of a file that types can refer to; the files it imports go to `follow`. */
  private typeOnlyText(sourceFile: ts.SourceFile, targets = this.projectImports(sourceFile)): string {
    const kept: string[] = [];
    for (const statement of sourceFile.statements) {
      if (tsc.isImportDeclaration(statement) || tsc.isExportDeclaration(statement)) {
        const target = targets.get(statement);
        if (target !== undefined) this.follow.push(target);
        else if (statement.moduleSpecifier) continue;
        kept.push(statement.getText(sourceFile));
      } else if (
        tsc.isInterfaceDeclaration(statement) ||
        tsc.isTypeAliasDeclaration(statement) ||
        tsc.isEnumDeclaration(statement) ||
        tsc.isModuleDeclaration(statement) ||
        (tsc.isClassDeclaration(statement) && !tsc.getDecorators(statement)?.length)
      ) {
        kept.push(statement.getText(sourceFile));
      }
    }
    return kept.join('\n');
  }

  /** The project file an import names: a relative path, or a tsconfig `paths` alias; not a package. */
  private projectFile(specifier: string, from: string): string | undefined {
    if (specifier.startsWith('.')) return resolveRelative(resolve(dirname(from), specifier));
    const aliased = Object.keys(this.compilerOptions.paths ?? {}).some((key) => {
      const [prefix, suffix = ''] = key.split('*');
      return key.includes('*') ? specifier.startsWith(prefix!) && specifier.endsWith(suffix) : specifier === key;
    });
    if (!aliased) return undefined;
    const options = { ...this.compilerOptions, moduleResolution: tsc.ModuleResolutionKind.Bundler, module: tsc.ModuleKind.ESNext };
    const resolved = tsc.resolveModuleName(specifier, from, options, tsc.sys).resolvedModule;
    return resolved && !resolved.isExternalLibraryImport ? resolved.resolvedFileName : undefined;
  }
}

/** Records that `from` reads `to`. */
export function addImport(imports: Map<string, Set<string>>, from: string, to: string): void {
  let targets = imports.get(from);
  if (!targets) imports.set(from, (targets = new Set()));
  targets.add(to);
}

/** A checker over the given files and the minimal lib, resolving nothing from disk. */
function createChecker(files: ReadonlyMap<string, ts.SourceFile>, baseOptions: ts.CompilerOptions): ts.TypeChecker {
  const lib = parse(LIB_FILE, MINIMAL_LIB);
  const options: ts.CompilerOptions = {
    ...baseOptions,
    strict: true,
    noLib: true,
    noResolve: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: tsc.ScriptTarget.ES2022,
    module: tsc.ModuleKind.ESNext,
    moduleResolution: tsc.ModuleResolutionKind.Bundler,
    composite: false,
    incremental: false,
    declaration: false,
  };
  const host: ts.CompilerHost = {
    getSourceFile: (name) => (name === LIB_FILE ? lib : files.get(name)),
    getDefaultLibFileName: () => LIB_FILE,
    writeFile: () => undefined,
    getCurrentDirectory: () => '/',
    getCanonicalFileName: (name) => name,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists: (name) => files.has(name),
    readFile: () => undefined,
    directoryExists: () => true,
  };
  return tsc.createProgram({ rootNames: [LIB_FILE, ...files.keys()], options, host }).getTypeChecker();
}
