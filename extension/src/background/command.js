// The keyboard shortcut ("fill-best"): fill the active tab's best login, but only when that needs
// no question. A person pressing a key sees no popup, so anything that would ask (another site's
// login, an https login on an http page, a cross-origin frame) or finds nothing only marks the
// toolbar button ("!" or "?") and fills nothing; the popup then says why.
// The browser's parts come in `deps`, so the unit tests run this without a browser.

/// What happened, for the tests and the badge: "continued" (second page of a two-step login),
/// "filled", "no_match", "needs_<mismatch|insecure|frame>" or "error".
export async function fillBest(tabId, deps) {
  try {
    if (deps.pending(tabId)) {
      const res = await deps.continueFill(tabId);
      await deps.badge(tabId, res?.ok ? "" : "!");
      return res?.ok ? "continued" : `needs_${res?.needs || "unknown"}`;
    }
    const { items } = await deps.search(tabId);
    // Only a login for this very site: "match" is the domain rule's verdict (src/shared/domain.js).
    const best = (Array.isArray(items) ? items : []).find((i) => i.verdict === "match");
    if (!best) {
      await deps.badge(tabId, "?");
      return "no_match";
    }
    const res = await deps.fill(tabId, await deps.getCredential(best.source, best.id));
    await deps.badge(tabId, res?.ok ? "" : "!");
    return res?.ok ? "filled" : `needs_${res?.needs || "unknown"}`;
  } catch {
    await Promise.resolve(deps.badge(tabId, "!")).catch(() => {});
    return "error";
  }
}
