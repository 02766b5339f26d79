// Which frame of a tab gets filled. Pure (test/unit/frames.test.js): the scans of every reachable
// frame in, one frame or a reason out.
//
// Top frame first; then frames of the top frame's origin; a frame of another origin only when the
// person consented to that pair of origins; a sandboxed frame never. A cross-origin frame the
// extension cannot even read yet (activeTab covers the top origin only) is offered for consent
// when nothing else on the page is a login form.

/// `frames`: [{frameId, origin, top, sandboxed, login: {score} | null, frames: [{origin, sandboxed}]}].
/// `consented(origin)`: whether the person allowed filling frames of `origin` inside this top origin.
/// Returns {frame} or {error: {code, frameOrigin?}}.
export function chooseFrame(frames, topOrigin, consented) {
  const withLogin = frames.filter((f) => f.login && f.login.score > 0);
  const best = (list) => list.slice().sort((a, b) => b.login.score - a.login.score)[0];
  const usable = withLogin.filter((f) => !f.sandboxed && f.origin !== "null");

  const top = usable.find((f) => f.top && f.origin === topOrigin);
  if (top) return { frame: top };
  const same = usable.filter((f) => !f.top && f.origin === topOrigin);
  if (same.length) return { frame: best(same) };
  const foreign = usable.filter((f) => f.origin !== topOrigin);
  const allowed = foreign.filter((f) => consented(f.origin));
  if (allowed.length) return { frame: best(allowed) };
  if (foreign.length) return { error: { code: "needs_frame_consent", frameOrigin: best(foreign).origin } };
  if (withLogin.length) return { error: { code: "frame_sandboxed" } };
  // Frames listed by their parents that we could not scan: offer the first cross-origin one.
  const scanned = new Set(frames.map((f) => f.origin));
  for (const f of frames) {
    for (const child of f.frames || []) {
      if (child.sandboxed || !/^https?:/.test(child.origin) || child.origin === topOrigin || scanned.has(child.origin)) continue;
      return { error: { code: "needs_frame_consent", frameOrigin: child.origin } };
    }
  }
  return { error: { code: "no_form" } };
}

export function fillPlanError(choice) {
  return choice.error || null;
}
