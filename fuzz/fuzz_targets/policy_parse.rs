//! The analyzer's policy TOML (`--policy` file, also the alert rules'
//! validator): parse and validate, the effective rules of every app named in
//! an override, and the error rendered in both languages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitals_analyzer::policy::Policy;
use vitals_i18n::Lang;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text) {
        Ok(policy) => {
            for o in &policy.overrides {
                for r in policy.rules_for(&o.app) {
                    let _ = r.id();
                }
            }
            let _ = policy.rules_for("fuzz-app");
        }
        Err(e) => {
            let _ = e.render(Lang::En);
            let _ = e.render(Lang::ZhCn);
        }
    }
});
