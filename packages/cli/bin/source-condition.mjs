// Module resolve hook: adds the `source` export condition, so workspace packages resolve to
// their TypeScript sources (see each package.json's "exports"), as `node --conditions=source` would.
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes('source') ? context.conditions : ['source', ...context.conditions];
  return nextResolve(specifier, { ...context, conditions });
}
