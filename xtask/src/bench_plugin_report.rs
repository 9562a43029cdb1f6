//! The plugin's part of `cargo xtask bench --plugin`: its counts beside the `-icount` figures
//! of the same kernels on one vCPU (they must be equal), and Linux on a `nohz_full` CPU of
//! `-smp 2`, which only the plugin can count.

use serde_json::{Value, json};

use crate::bench::Figures;
use crate::bench_report::{figures_json, layout, num};

/// Figures counted by the plugin.
#[derive(Debug, Clone, Default)]
pub struct PluginFigures {
    /// kentry, `-smp 1`, in the `-icount` boot: the same instructions as its icount figures.
    pub kentry_icount_boot: Vec<(String, Figures)>,
    /// kentry, `-smp 1`, without `-icount`: interrupts then come in host time.
    pub kentry_alone: Vec<(String, Figures)>,
    /// Linux, mitigations off, `-smp 1`, in the `-icount` boot.
    pub linux_off_icount_boot: Option<Vec<(String, Figures)>>,
    /// Linux, mitigations off, `nohz_full=1 isolcpus=1`, `-smp 2`, the bench on CPU 1.
    pub linux_nohz: Option<Vec<(String, Figures)>>,
}

fn find(set: &[(String, Figures)], p: &str) -> Option<f64> {
    set.iter().find(|(q, _)| q == p).map(|(_, f)| f.median)
}

/// The cell telling how the plugin's figure differs from icount's: `=` when equal.
fn agreement(icount: Option<f64>, plugin: Option<f64>) -> String {
    match (icount, plugin) {
        (Some(a), Some(b)) if a == b => "=".into(),
        (Some(a), Some(b)) => format!("{:+}", b - a),
        _ => "–".into(),
    }
}

impl PluginFigures {
    /// Paths in order: kentry's, then those only Linux has.
    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = Vec::new();
        let sets = [
            Some(&self.kentry_icount_boot),
            Some(&self.kentry_alone),
            self.linux_off_icount_boot.as_ref(),
            self.linux_nohz.as_ref(),
        ];
        for (p, _) in sets.into_iter().flatten().flatten() {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
        paths
    }

    /// The table: per path, kentry's icount figure, the plugin's in the same boot and the
    /// plugin's alone (each with its difference from icount), Linux's icount and plugin
    /// figures of one boot, and Linux on the nohz_full CPU.
    pub fn table(
        &self,
        kentry_icount: &[(String, Figures)],
        linux_off_icount: Option<&[(String, Figures)]>,
    ) -> String {
        let mut t = vec![vec![
            "path".to_string(),
            "kentry icount".into(),
            "plugin".into(),
            "Δ".into(),
            "plugin alone".into(),
            "Δ".into(),
            "Linux off icount".into(),
            "plugin".into(),
            "Δ".into(),
            "Linux nohz_full".into(),
        ]];
        let none: &[(String, Figures)] = &[];
        for p in self.paths() {
            let ki = find(kentry_icount, &p);
            let kp = find(&self.kentry_icount_boot, &p);
            let ka = find(&self.kentry_alone, &p);
            let li = find(linux_off_icount.unwrap_or(none), &p);
            let lp = find(self.linux_off_icount_boot.as_deref().unwrap_or(none), &p);
            let ln = find(self.linux_nohz.as_deref().unwrap_or(none), &p);
            let cell = |x: Option<f64>| x.map_or_else(|| "–".into(), num);
            t.push(vec![
                p.clone(),
                cell(ki),
                cell(kp),
                agreement(ki, kp),
                cell(ka),
                agreement(ki, ka),
                cell(li),
                cell(lp),
                agreement(li, lp),
                cell(ln),
            ]);
        }
        let mut s = layout(&t);
        s.push_str(
            "plugin: instructions per round trip counted by tools/insn-count in the -icount \
             boot (the same instructions; Δ: plugin - icount, =: equal); plugin alone: in a \
             boot without -icount, where interrupts come in host time (-smp 1); Linux nohz_full: \
             mitigations=off nohz_full=1 isolcpus=1 on -smp 2, the bench pinned to CPU 1 and \
             counted there by the plugin alone\n",
        );
        s
    }

    /// The `plugin` object of latest.json.
    pub fn to_json(
        &self,
        kentry_icount: &[(String, Figures)],
        linux_off_icount: Option<&[(String, Figures)]>,
    ) -> Value {
        let set = |s: Option<&Vec<(String, Figures)>>| -> Value {
            match s {
                Some(s) => Value::Object(
                    s.iter()
                        .map(|(p, f)| (p.clone(), figures_json(f)))
                        .collect(),
                ),
                None => Value::Null,
            }
        };
        let none: &[(String, Figures)] = &[];
        let agrees = |icount: &[(String, Figures)], plugin: &[(String, Figures)]| -> Value {
            Value::Object(
                plugin
                    .iter()
                    .filter_map(|(p, f)| find(icount, p).map(|i| (p.clone(), json!(i == f.median))))
                    .collect(),
            )
        };
        json!({
            "counter": "tools/insn-count, QEMU plugin API v1",
            "kentry-icount-boot": set(Some(&self.kentry_icount_boot)),
            "kentry-alone": set(Some(&self.kentry_alone)),
            "linux-off-icount-boot": set(self.linux_off_icount_boot.as_ref()),
            "nohz-full": set(self.linux_nohz.as_ref()),
            "equals-icount": {
                "kentry": agrees(kentry_icount, &self.kentry_icount_boot),
                "linux-off": agrees(
                    linux_off_icount.unwrap_or(none),
                    self.linux_off_icount_boot.as_deref().unwrap_or(none),
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::summarize;
    use crate::bench::tests::line;

    #[test]
    fn shows_agreement_and_nohz() {
        let icount = summarize(&[vec![
            line("getpid", 91.0, 91.0, 91.0),
            line("pf-zero", 900.0, 900.0, 900.0),
        ]]);
        let p = PluginFigures {
            kentry_icount_boot: summarize(&[vec![
                line("getpid", 91.0, 91.0, 91.0),
                line("pf-zero", 901.0, 901.0, 901.0),
            ]]),
            kentry_alone: summarize(&[vec![line("getpid", 92.0, 91.0, 93.0)]]),
            linux_off_icount_boot: None,
            linux_nohz: Some(summarize(&[vec![line("getpid", 624.0, 620.0, 630.0)]])),
        };
        let t = p.table(&icount, None);
        let row = |path: &str| -> Vec<String> {
            t.lines()
                .find(|l| l.split_whitespace().next() == Some(path))
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        assert_eq!(
            row("getpid"),
            ["getpid", "91", "91", "=", "92", "+1", "–", "–", "–", "624"]
        );
        assert_eq!(row("pf-zero")[3], "+1");
        assert_eq!(row("pf-zero")[4], "–");
        let j = p.to_json(&icount, None);
        assert_eq!(j["equals-icount"]["kentry"]["getpid"], true);
        assert_eq!(j["equals-icount"]["kentry"]["pf-zero"], false);
        assert_eq!(j["nohz-full"]["getpid"]["median"], 624.0);
        assert_eq!(j["linux-off"], Value::Null);
    }
}
