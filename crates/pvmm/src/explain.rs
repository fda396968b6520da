//! `pvmm explain`: each thread of a scenario as the kernel calls it will make, with the
//! switches of the presets that change those paths — before any checking.

use crate::cli::{ExplainArgs, Format};
use crate::common::*;
use crate::style::Style;
use checker::text::escape;
use kernel::build::Builder;
use kernel::config::Kernel;
use kernel::vocab::ops::{Arg, Kind, OpCall};
use report::json::{self, ExplainDoc, ExplainOp, ExplainPreset, ExplainSwitch, ExplainThread};

/// The value of a switch in a configuration, as `--set` writes it (the ops' switches are
/// declared switches: tested in the kernel crate).
fn value(k: &Kernel, switch: &str) -> String {
    k.get(switch).unwrap_or("?").to_string()
}

/// What each value of `switch` that the configurations have means (the path each preset
/// takes), in the order they first appear.
fn meanings(switch: &str, kernels: &[(String, Kernel)]) -> Vec<(String, String)> {
    let Ok(sw) = kernel::vocab::switches::switch(switch) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, k) in kernels {
        let v = sw.value_doc(k);
        if !out.iter().any(|(n, _)| n == v.name) {
            out.push((v.name.to_string(), kernel::vocab::switches::one_line(v.doc)));
        }
    }
    out
}

/// The operation as written in the scenario (`gup mm=qemu vpn=0 flags=FOLL_PIN fast=false
/// write=false`), with the caller frames its scenario gave.
fn op_text(call: &OpCall, b: &Builder) -> String {
    let mut t = call.op.spec().name.to_string();
    for (f, a) in call.op.args() {
        let v = match (f.kind, a) {
            (Kind::Mm | Kind::File | Kind::Pipe, Arg::Id(n) | Arg::Num(n)) => {
                b.name_of(f.kind, n).unwrap_or("?").to_string()
            }
            (Kind::Flags(known), Arg::Flags(bits)) => known
                .iter()
                .filter(|k| bits & k.bit != 0)
                .map(|k| k.name)
                .collect::<Vec<_>>()
                .join("|"),
            (_, Arg::Byte(x)) => format!("{x:#04x}"),
            (_, Arg::Num(n) | Arg::Id(n)) => n.to_string(),
            (_, Arg::Bool(x)) => x.to_string(),
            (_, Arg::Flags(bits)) => format!("{bits:#x}"),
        };
        t.push_str(&format!(" {}={v}", f.name));
    }
    if !call.frames.is_empty() {
        t.push_str(&format!(" frame=\"{}\"", call.frames.join(" > ")));
    }
    t
}

pub fn run(a: ExplainArgs) -> u8 {
    let overrides = match parse_sets(&a.common.sets) {
        Ok(o) => o,
        Err(e) => return bad(e),
    };
    if let Err(e) = check_presets(&a.common.kernels) {
        return bad(e);
    }
    let mut sc = match load_scenario(&a.scenario) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    if let Some(n) = a.common.max_spins {
        sc.set_max_spins(n);
    }
    if let Some(n) = a.common.max_retries {
        sc.set_max_retries(n);
    }
    let presets = if a.common.kernels.is_empty() {
        sc.presets.clone()
    } else {
        a.common.kernels.clone()
    };
    let mut kernels = Vec::new();
    for p in &presets {
        match sc.kernel(p, &overrides) {
            Ok(k) => kernels.push((p.clone(), k)),
            Err(e) => return bad(e),
        }
    }
    let threads: Vec<ExplainThread> = sc
        .thread_ops()
        .iter()
        .enumerate()
        .map(|(tid, (name, ops))| ExplainThread {
            tid,
            name: name.clone(),
            ops: ops
                .iter()
                .map(|call| {
                    let spec = call.op.spec();
                    let calls = if call.frames.is_empty() {
                        spec.calls.replace(" > ", " → ")
                    } else {
                        format!(
                            "{} → {}",
                            call.frames.join(" → "),
                            spec.calls.replace(" > ", " → ")
                        )
                    };
                    ExplainOp {
                        op: op_text(call, sc.builder()),
                        calls,
                        switches: spec
                            .switches
                            .iter()
                            .map(|(s, effect)| ExplainSwitch {
                                switch: s.to_string(),
                                effect: effect.to_string(),
                                values: kernels
                                    .iter()
                                    .map(|(p, k)| (p.clone(), value(k, s)))
                                    .collect(),
                                meanings: meanings(s, &kernels),
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    if a.format == Format::Json {
        let doc = ExplainDoc {
            header: json::Header::new("explain"),
            scenario: sc.name.clone(),
            scenario_path: sc.path.display().to_string(),
            description: sc.description.clone(),
            presets: kernels
                .iter()
                .map(|(p, k)| ExplainPreset {
                    name: p.clone(),
                    kernel: k.describe(),
                })
                .collect(),
            threads,
        };
        print!("{}", json::to_string(&doc));
        return EXIT_OK;
    }
    let st = Style::stdout();
    println!(
        "{}",
        st.bold(&escape(&format!("{} ({})", sc.name, sc.path.display())))
    );
    for l in sc.description.lines() {
        println!("  {}", escape(l));
    }
    println!(
        "presets: {}{}",
        presets.join(", "),
        if sc.overrides.is_empty() && overrides.is_empty() {
            String::new()
        } else {
            format!(
                "   overrides: {}",
                sc.overrides
                    .iter()
                    .chain(&overrides)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    );
    for t in &threads {
        println!("\n{}", st.bold(&format!("T{} {}", t.tid, escape(&t.name))));
        for (i, op) in t.ops.iter().enumerate() {
            println!("  {}. {}", i + 1, st.bold(&escape(&op.op)));
            println!("     {}", escape(&op.calls));
            for s in &op.switches {
                let vals: Vec<String> = s.values.iter().map(|(p, v)| format!("{p} {v}")).collect();
                // Switches whose value differs between the presets shown are what the
                // comparison is about: mark them.
                let differs = s.values.iter().any(|(_, v)| *v != s.values[0].1);
                println!(
                    "     {} {}: {}   {}",
                    if differs {
                        st.yellow("switch*")
                    } else {
                        st.dim("switch ")
                    },
                    s.switch,
                    vals.join(" · "),
                    st.dim(&format!("({})", s.effect))
                );
                if differs {
                    for (v, doc) in &s.meanings {
                        println!("         {} {}", st.yellow(&format!("{v}:")), st.dim(doc));
                    }
                }
            }
        }
    }
    println!(
        "\n{}",
        st.dim("(switch*: differs between the presets shown. Nothing checked yet: pvmm check <scenario> explores every interleaving of these threads)")
    );
    EXIT_OK
}
