//! `passbridge install | uninstall | doctor`: arguments, and the text people read.
//! This runs only in CLI mode (never as the host), so printing to stdout is fine here.

pub use super::apply::InstallError;
use super::apply::{self, Context, InstallRequest, UninstallRequest};
use super::doctor::{self, Level};
use super::ids;
use super::sandbox;
use super::table::{Browser, Os, Scope};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The project's own extension (Chrome id dimjidijnppmaoabgdkmickadcepdapp, Firefox id \
extension@passbridge.org) is always registered; ids given here are added. \
Without --browser, passbridge registers with every browser found on this machine (installed: a \
program on PATH or in its usual place, a desktop entry or an application bundle; or run: its \
profile folder exists); with --scope system, with every supported browser. \
Browsers registered earlier are always refreshed. See docs/install.md for every path and key.")]
pub struct InstallArgs {
    /// Browser to register with (repeatable).
    #[arg(long = "browser", value_name = "NAME", value_enum)]
    pub browsers: Vec<Browser>,
    /// Another Chrome-family extension id, 32 letters a-p (repeatable); the project's own is
    /// always registered.
    #[arg(long = "chrome-extension-id", value_name = "ID")]
    pub chrome_extension_ids: Vec<String>,
    /// Another Firefox-family add-on id, name@example.org or {uuid} (repeatable); the project's
    /// own is always registered.
    #[arg(long = "firefox-extension-id", value_name = "ID")]
    pub firefox_extension_ids: Vec<String>,
    /// Register for this user only, or for every user of the machine (needs root/administrator).
    #[arg(long, value_enum, default_value_t = Scope::User)]
    pub scope: Scope,
    /// The host program browsers will start [default: this passbridge].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Print every file and registry key that would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Remove only these browsers' registrations (repeatable) [default: all].
    #[arg(long = "browser", value_name = "NAME", value_enum)]
    pub browsers: Vec<Browser>,
    /// Which registrations: this user's, or the machine-wide ones.
    #[arg(long, value_enum, default_value_t = Scope::User)]
    pub scope: Scope,
    /// Print what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

pub fn install(args: InstallArgs) -> Result<(), InstallError> {
    install_to(args, &mut std::io::stdout().lock())
}

pub fn uninstall(args: UninstallArgs) -> Result<(), InstallError> {
    uninstall_to(args, &mut std::io::stdout().lock())
}

pub fn doctor(args: DoctorArgs) -> Result<(), InstallError> {
    doctor_to(args, &mut std::io::stdout().lock())
}

fn io(e: std::io::Error) -> InstallError {
    InstallError::Io {
        action: "write to",
        path: "stdout".into(),
        source: e,
    }
}

pub fn install_to(args: InstallArgs, out: &mut dyn Write) -> Result<(), InstallError> {
    let req = InstallRequest {
        scope: args.scope,
        browsers: args.browsers,
        // The project's own extension always; ids given on the command line are added.
        chrome_origins: ids::chrome_origins(&ids::with_own(
            ids::OWN_CHROME_ID,
            &args.chrome_extension_ids,
        ))?,
        firefox_ids: ids::firefox_ids(&ids::with_own(
            ids::OWN_FIREFOX_ID,
            &args.firefox_extension_ids,
        ))?,
        binary: apply::resolve_binary(args.binary.as_deref())?,
        dry_run: args.dry_run,
    };
    let ctx = Context::from_process()?;
    let r = apply::install(&ctx, &req)?;
    let verb = |done: &'static str, would: &'static str| if r.dry_run { would } else { done };
    let w = &mut *out;
    if r.dry_run {
        writeln!(
            w,
            "Dry run: nothing is written. `passbridge install` would:"
        )
        .map_err(io)?;
    }
    writeln!(
        w,
        "{} {} ({} scope) for {}",
        verb("Registered", "register"),
        r.plan.binary,
        r.plan.scope,
        browser_list(&r.plan.browsers)
    )
    .map_err(io)?;
    for d in &r.created_dirs {
        writeln!(w, "  {} folder {d}", verb("created", "create")).map_err(io)?;
    }
    for m in &r.plan.manifests {
        writeln!(
            w,
            "  {} {}  [{}]",
            verb("wrote", "write"),
            m.record.path,
            browser_list(&m.record.browsers)
        )
        .map_err(io)?;
    }
    for k in &r.plan.keys {
        writeln!(
            w,
            "  {} {} = {}  [{}]",
            verb("set", "set"),
            k.entry.display_key(),
            k.entry.value,
            browser_list(&k.browsers)
        )
        .map_err(io)?;
    }
    let added: Vec<&String> = r
        .added
        .chrome_origins
        .iter()
        .chain(&r.added.firefox_ids)
        .collect();
    if added.is_empty() {
        writeln!(w, "  allowlist {} unchanged", r.allowlist_path.display()).map_err(io)?;
    } else {
        for id in added {
            writeln!(
                w,
                "  {} {id} to the allowlist in {}",
                verb("added", "add"),
                r.allowlist_path.display()
            )
            .map_err(io)?;
        }
    }
    writeln!(
        w,
        "  {} the install record {}",
        verb("updated", "update"),
        r.record_path.display()
    )
    .map_err(io)?;
    for p in &r.removed {
        writeln!(w, "  removed {p} (no longer needed)").map_err(io)?;
    }
    for p in &r.left {
        writeln!(
            w,
            "  note: {p} changed since passbridge wrote it; left in place"
        )
        .map_err(io)?;
    }
    for s in &r.skipped {
        writeln!(w, "Skipped {}: {}", s.browser, s.reason).map_err(io)?;
    }
    for bad in &r.invalid_ids {
        writeln!(
            w,
            "Warning: allowlist entry {bad:?} is not a valid id; it was left out of the manifests"
        )
        .map_err(io)?;
    }
    for n in &r.notes {
        writeln!(w, "Warning: {n}").map_err(io)?;
    }
    if ctx.os == Os::Linux {
        for s in sandbox::detect(&ctx.env.home, &|p| std::path::Path::new(p).is_dir()) {
            writeln!(w, "Note: {} ({}): {}", s.name, s.path, s.advice).map_err(io)?;
        }
    }
    if !r.dry_run {
        writeln!(w, "Next: `passbridge doctor` checks every registration.").map_err(io)?;
    }
    Ok(())
}

fn browser_list(list: &[Browser]) -> String {
    list.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
}

pub fn uninstall_to(args: UninstallArgs, out: &mut dyn Write) -> Result<(), InstallError> {
    let ctx = Context::from_process()?;
    let req = UninstallRequest {
        scope: args.scope,
        browsers: args.browsers,
        dry_run: args.dry_run,
    };
    let r = apply::uninstall(&ctx, &req)?;
    let w = &mut *out;
    if r.nothing_recorded {
        writeln!(
            w,
            "Nothing to remove: no {} install record at {}.",
            req.scope,
            r.record_path.display()
        )
        .map_err(io)?;
        writeln!(
            w,
            "Registrations made by hand or by a package are not touched; `passbridge doctor` lists every one it finds."
        )
        .map_err(io)?;
        return Ok(());
    }
    if r.dry_run {
        writeln!(
            w,
            "Dry run: nothing is removed. `passbridge uninstall` would:"
        )
        .map_err(io)?;
    }
    let verb = if r.dry_run { "remove" } else { "removed" };
    for p in &r.removed {
        writeln!(w, "  {verb} {p}").map_err(io)?;
    }
    for p in &r.left {
        writeln!(w, "  left {p}: it changed since passbridge wrote it").map_err(io)?;
    }
    for id in r
        .removed_ids
        .chrome_origins
        .iter()
        .chain(&r.removed_ids.firefox_ids)
    {
        writeln!(
            w,
            "  {verb} {id} from the allowlist in {}",
            r.allowlist_path.display()
        )
        .map_err(io)?;
    }
    if r.record_removed {
        writeln!(
            w,
            "  removed the install record {}",
            r.record_path.display()
        )
        .map_err(io)?;
    } else if !r.remaining_browsers.is_empty() {
        writeln!(
            w,
            "Still registered: {}",
            browser_list(&r.remaining_browsers)
        )
        .map_err(io)?;
    }
    Ok(())
}

pub fn doctor_to(_args: DoctorArgs, out: &mut dyn Write) -> Result<(), InstallError> {
    let ctx = Context::from_process()?;
    let report = doctor::run(&ctx);
    let w = &mut *out;
    for s in &report.sections {
        writeln!(w, "{}", s.title).map_err(io)?;
        for f in &s.findings {
            let tag = match f.level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            writeln!(w, "  {tag}  {}", f.text).map_err(io)?;
            if let Some(fix) = &f.fix {
                writeln!(w, "        fix: {fix}").map_err(io)?;
            }
        }
    }
    let (fails, warns) = (report.count(Level::Fail), report.count(Level::Warn));
    writeln!(w).map_err(io)?;
    if fails == 0 {
        writeln!(
            w,
            "No problems found{}.",
            if warns > 0 {
                format!(" ({warns} warning(s))")
            } else {
                String::new()
            }
        )
        .map_err(io)?;
        Ok(())
    } else {
        writeln!(w, "{fails} problem(s), {warns} warning(s).").map_err(io)?;
        Err(InstallError::Unhealthy(fails))
    }
}
