/**
 * Integration suites need real services. When one does not answer, the suite skips with the
 * reason printed, so a newcomer's `pnpm test` stays green; with FSM_REQUIRE_SERVICES=1 (as
 * .ci/run sets) it fails instead, so nothing skips where it matters.
 */
export async function unavailable(what: string, suite: string, probe: () => Promise<unknown>): Promise<string | null> {
  try {
    await probe();
    return null;
  } catch (error) {
    const reason = `${what} is unreachable: ${error instanceof Error ? error.message : String(error)}`;
    if (process.env['FSM_REQUIRE_SERVICES'] === '1') {
      throw new Error(`${reason} (FSM_REQUIRE_SERVICES=1, so this fails)`, { cause: error });
    }
    console.warn(`skipping ${suite}: ${reason}`);
    return reason;
  }
}
