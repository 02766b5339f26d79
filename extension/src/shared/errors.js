// Every error a person can meet, as one sentence that says what happened and what to do.
// Host codes come from docs/protocol.md (codes are only ever added there: a code missing here
// falls back to the host's own message, which is written for people too); extension-side codes
// describe what the browser or the page did. Never raw JSON, never a secret.

/// The README's install command, run in a checkout of passbridge: it builds the host and registers
/// it (this extension's ids included) with every browser this user has run.
export const INSTALL_COMMAND = "installer/install.sh";

const HOST = {
  invalid_utf8: "The extension sent passbridge a garbled message. Reload the extension; if it keeps happening, report a bug.",
  invalid_json: "The extension sent passbridge a garbled message. Reload the extension; if it keeps happening, report a bug.",
  invalid_request: "The extension and passbridge do not understand each other. Update both to the same version.",
  unknown_action: "This passbridge does not know that action yet. Update passbridge (the native host) to the extension's version.",
  invalid_params: "passbridge refused the request as malformed.",
  forbidden_caller: "passbridge does not allow this extension yet. Run `passbridge install` again: it adds this extension's id.",
  too_large: "The answer was too large for the browser to receive.",
  cancelled: "Cancelled.",
  busy: "passbridge is busy with too many requests. Wait a moment and try again.",
  duplicate_id: "That request is already running.",
  internal: "passbridge hit a bug. Its log has the details; please report it.",
  storage_error: "passbridge could not read or write its files. Check the disk and the permissions of its data directory (`passbridge doctor`).",

  clarion_not_configured: "This needs a security-key approval, but no Clarion server or key is set up. Set one up in the settings.",
  clarion_unreachable: "The Clarion approval server cannot be reached. Check that it is running and that the address in the settings is right.",
  clarion_tls_untrusted: "The Clarion server's certificate is not trusted. Trust its certificate authority or fix the certificate; retrying will not help.",
  clarion_server_error: "The Clarion server answered with an error. Try again, or check the server's log.",
  clarion_bad_reply: "The Clarion server sent an answer passbridge cannot read. Check that the address really is a Clarion server.",
  approval_not_found: "The approval request expired on the Clarion server (it may have restarted). Try again.",
  approval_cancelled: "The approval was cancelled on the Clarion page.",
  approval_expired: "Nobody approved in time. Try again and touch your security key on the Clarion page.",
  approval_denied: "The approval came from a key that is not registered here. Use one of your registered keys.",
  approval_required: "This needs a security-key approval that cannot be given now. Register a key in the settings first.",
  registration_not_found: "The key registration expired. Start it again.",
  registration_invalid: "The key registration could not be read. Start it again.",
  registration_timeout: "No key registration arrived in time. Start it again.",
  key_not_found: "That security key is not registered.",
  key_exists: "That security key is already registered.",
  server_mismatch: "These keys belong to another Clarion server than the one in the settings.",
  policy_needs_key: "That policy needs a registered security key: register one first, and keep at least one.",
  clarion_insecure_server: "The Clarion server address is plain http to another machine, where anyone on the way could approve. Use its https:// address.",

  not_linked: "No phone is linked yet. Open the setup page and link your phone.",
  phone_unreachable: "Your phone did not answer. Check that it is on the same network and that the ANOTHERpass app's server is on.",
  timeout: "Nobody approved on the phone in time. Try again and approve the request in ANOTHERpass.",
  denied_by_user: "The request was denied on the phone (or the login is not in ANOTHERpass).",
  rejected_request: "The phone could not read the request: the link is out of step. Link your phone again on the setup page.",
  unknown_client: "The phone does not know this computer any more. Link your phone again on the setup page.",
  phone_error: "The ANOTHERpass app failed. Try again; restart the app if it keeps failing.",
  phone_locked: "Unlock the ANOTHERpass app and open its \"link new device\" screen, then try again.",
  decrypt_failed: "The phone's answer could not be decrypted. Link your phone again on the setup page.",
  bad_reply: "The phone sent an answer passbridge cannot read. Check the address: it may not be ANOTHERpass.",
  link_fingerprint: "The phone rejected the link: its QR code belongs to another attempt. Start linking again.",
  vault_mismatch: "That phone has another vault than the one linked before. Link the phone you linked first, or unlink.",
  link_not_started: "The linking expired. Start it again.",
  download_failed: "The backup could not be downloaded or saved.",

  vault_locked: "The vault is locked. Unlock it with your local password, or ask the phone.",
  vault_missing: "There is no vault yet. Ask the phone for a login once: it is then kept in the vault.",
  vault_wrong_key: "The phone's key does not open this vault (it was linked to another vault).",
  vault_wrong_password: "That password is wrong.",
  // The host's message says how long to wait.
  vault_too_many_attempts: "Too many wrong passwords in a row. Wait a moment, or unlock the vault with the phone.",
  vault_no_password: "No local password is set for the vault. Unlock it with the phone, then set one in the settings.",
  vault_not_found: "That login is no longer in the vault. Search again.",
  vault_corrupt: "The vault files are damaged. They were left untouched for recovery; see `passbridge doctor`.",
  vault_unsupported_version: "The vault was written by a newer passbridge. Update passbridge.",
  vault_rolled_back: "The vault on disk is older than one this computer already used (restored from a backup, or rolled back by someone). Nothing was read. If you restored it yourself, accept it with `passbridge vault accept-restore --yes`.",
  vault_upgrade_needed: "This vault is from an older passbridge. Unlock it once with the phone or your local password, then try again.",

  // credentials.search/get (the backend seam) and the Passman and PassWeaver backends.
  source_unreachable: "One of your password sources did not answer in time; its logins are missing from this list.",
  unknown_source: "That password source is not set up any more. Open this popup again.",
  not_found: "That item no longer exists on the server. Search again.",
  server_error: "The password server answered with an error. Try again, or check the server's log.",
  wrong_password: "That password is wrong.",
  passman_not_configured: "No Passman account is set up. Add one in the settings.",
  passman_auth_failed: "Nextcloud refused the app password. Create a new app password in Nextcloud (Settings → Security → Devices & sessions) and set the account up again.",
  passman_unreachable: "The Nextcloud server cannot be reached. Check the address in the settings and your network.",
  passman_tls_untrusted: "The Nextcloud server's certificate is not trusted. Trust its certificate authority or fix the certificate; retrying will not help.",
  passman_locked: "The Passman vault is locked. Unlock it in the settings with the vault password.",
  passman_empty_vault: "That Passman vault has no login yet, so its password cannot be checked. Add one in Passman's web app first.",
  passman_unreadable_credential: "Some fields of this Passman login cannot be decrypted, so passbridge leaves it unchanged.",
  passman_shared_read_only: "This Passman login is shared with you; passbridge only reads shared logins.",
  passweaver_not_configured: "No PassWeaver account is set up. Add one in the settings.",
  passweaver_unreachable: "The PassWeaver server cannot be reached. Check the address in the settings and your network.",
  passweaver_tls_untrusted: "The PassWeaver server's certificate is not trusted. Trust its certificate authority or fix the certificate; retrying will not help.",
  passweaver_bad_reply: "The PassWeaver server sent an answer passbridge cannot read. Check that the address really is a PassWeaver API server.",
  login_required: "Your PassWeaver session ended. Log in again in the settings.",
  passweaver_login_failed: "PassWeaver refused the login: check the user name and password (or the API key and secret).",
  passweaver_bad_request: "PassWeaver rejected the request as malformed.",
  passweaver_forbidden: "PassWeaver does not allow your account to do that.",
  passweaver_read_only: "The PassWeaver server is in read-only mode. Try again later.",
  personal_password_not_set: "Your PassWeaver personal folder has no password yet. Set one in PassWeaver first.",
  personal_locked: "Your PassWeaver personal folder is locked. Unlock it in the settings with its password.",
  passweaver_wrong_password: "That personal password is wrong.",
  passweaver_invalid_value: "PassWeaver refused a value in the request.",
  passweaver_server_error: "The PassWeaver server failed. Try again, or check the server's log.",
  passweaver_decrypt_failed: "A PassWeaver item could not be decrypted. Try again; if it keeps failing, report it.",
};

const EXTENSION = {
  host_missing: `passbridge is not installed on this computer (the browser found no native host). Install it from the passbridge sources with: ${INSTALL_COMMAND}`,
  host_forbidden: "The browser does not let this extension use passbridge: its id is missing from passbridge's browser registration. Run `passbridge install` again.",
  host_exited: "passbridge stopped unexpectedly. Try again; `passbridge doctor` checks the installation.",
  no_tab: "There is no web page in this tab to fill.",
  restricted_page: "The browser does not let extensions fill this page.",
  no_form: "No login form was found on this page.",
  no_visible_field: "The login fields on this page are hidden or covered, so nothing was filled.",
  navigated: "The page changed while waiting, so nothing was filled.",
  declined: "Nothing was filled.",
  frame_sandboxed: "The login form is in a sandboxed frame; passbridge never fills those.",
  no_match: "No saved login matches this site.",
  clipboard: "The clipboard could not be written.",
  no_otp: "This login has no one-time code.",
  otp_invalid: "This login's one-time code setting cannot be read, so no code was made.",
};

/// The sentence for an error `{code, message}` (from the host or the extension).
export function sentence(error) {
  const code = error && typeof error.code === "string" ? error.code : "";
  if (code in EXTENSION) return EXTENSION[code];
  if (code in HOST) {
    // Parameter errors carry the only useful detail in the host's message.
    if (code === "invalid_params" && error.message) return `passbridge refused the request: ${error.message}`;
    if (code === "vault_too_many_attempts" && error.message) return `Too many wrong passwords in a row: ${error.message}`;
    return HOST[code];
  }
  if (error && typeof error.message === "string" && error.message) return error.message;
  return "Something went wrong, and passbridge did not say what. Try again.";
}

/// Every code this file knows (the unit tests check it covers docs/protocol.md).
export const KNOWN_CODES = [...Object.keys(HOST), ...Object.keys(EXTENSION)];
