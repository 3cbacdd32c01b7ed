//! Custom rules and filter lists, in Elastic ML's shape: a detector's `custom_rules` say when
//! to skip a result or keep a bucket out of the model; a filter list (its own file in the jobs
//! directory, top-level key `filter_id`) names the entities a rule's `scope` matches.
//!
//! Filter lists are resolved into the rules when a job is checked (their items are copied in),
//! so a [`Rule`] is self-contained: it can be evaluated, stored and shown without the files.
//! Semantics follow Elastic ML: rules of a detector combine with *or*; within a rule the scope
//! and every condition must hold (*and*); `actions` default to `[skip_result]`; a condition on
//! `time` compares the bucket's start in epoch seconds.

use super::problems::{Positions, Problems};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `custom_rules[]` as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleConfig {
    /// What to do when the rule applies: `skip_result` (write no record) and/or
    /// `skip_model_update` (the bucket's value does not teach the model). Default:
    /// `[skip_result]`.
    #[schemars(extend("default" = ["skip_result"]))]
    pub actions: Option<Vec<String>>,
    /// Which entities the rule applies to: a map from one of the detector's `by_field_name`,
    /// `over_field_name` or `partition_field_name` to a filter list. Default: every entity.
    pub scope: Option<BTreeMap<String, ScopeConfig>>,
    /// Numeric conditions, all of which must hold. Default: none (the scope alone decides).
    pub conditions: Option<Vec<ConditionConfig>>,
}

/// `custom_rules[].scope.FIELD` as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeConfig {
    /// The `filter_id` of a filter list file in the jobs directory. Required.
    #[schemars(required)]
    pub filter_id: Option<String>,
    /// `include`: the rule applies to values in the list; `exclude`: to values not in it.
    /// Default: `include`.
    #[schemars(extend("enum" = ["include", "exclude"], "default" = "include"))]
    pub filter_type: Option<String>,
}

/// `custom_rules[].conditions[]` as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionConfig {
    /// What is compared: `actual`, `typical`, `diff_from_typical` (absolute difference) or
    /// `time` (bucket start, epoch seconds). Required.
    #[schemars(required, extend("enum" = ["actual", "typical", "diff_from_typical", "time"]))]
    pub applies_to: Option<String>,
    /// `gt`, `gte`, `lt` or `lte`. Required.
    #[schemars(required, extend("enum" = ["gt", "gte", "lt", "lte"]))]
    pub operator: Option<String>,
    /// The number compared with. Required.
    #[schemars(required)]
    pub value: Option<f64>,
}

/// A filter list file as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tidewatch filter list")]
pub(crate) struct FilterConfig {
    /// Id rules refer to (`scope.FIELD.filter_id`); same rules as a `job_id`. Required.
    #[schemars(required)]
    pub filter_id: Option<String>,
    /// Free text. Default: empty.
    pub description: Option<String>,
    /// The values; an item may start or end with `*` to match any prefix or suffix.
    /// Default: none.
    pub items: Option<Vec<String>>,
}

/// A checked filter list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterList {
    /// Its id.
    pub filter_id: String,
    /// Free text.
    pub description: String,
    /// The values, `*` wildcards at either end allowed.
    pub items: Vec<String>,
}

impl FilterList {
    /// Whether `value` matches an item (exactly, or by a leading or trailing `*`).
    pub fn contains(&self, value: &str) -> bool {
        self.items.iter().any(|item| item_matches(item, value))
    }
}

fn item_matches(item: &str, value: &str) -> bool {
    match (item.strip_prefix('*'), item.strip_suffix('*')) {
        _ if item == "*" => true,
        (Some(rest), _) if rest.ends_with('*') => value.contains(&rest[..rest.len() - 1]),
        (Some(suffix), _) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => item == value,
    }
}

/// What a rule does when it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// No record is written, and the value does not count towards the bucket's score or the
    /// normalizer's history.
    SkipResult,
    /// The model does not learn from the bucket's value: later scores are as if it never came.
    SkipModelUpdate,
}

/// Whether a scope's filter list selects the values in it or the values outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterType {
    /// The rule applies to values in the list.
    Include,
    /// The rule applies to values not in the list.
    Exclude,
}

/// One field of a rule's scope, with its filter list resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// A split field of the detector (`by_field_name`, `over_field_name` or
    /// `partition_field_name`).
    pub field: String,
    /// Include or exclude.
    pub filter_type: FilterType,
    /// The filter list (a copy of the file's content).
    pub filter: FilterList,
}

/// What a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    /// The bucket's value.
    Actual,
    /// The model's typical value.
    Typical,
    /// `|actual - typical|`.
    DiffFromTypical,
    /// The bucket's start, epoch seconds.
    Time,
}

/// How a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// One numeric condition of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// What is compared.
    pub applies_to: AppliesTo,
    /// How.
    pub operator: Operator,
    /// With what.
    pub value: f64,
}

/// A checked custom rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// What happens when it applies (at least one).
    pub actions: Vec<RuleAction>,
    /// Entity filters, all of which must match.
    pub scope: Vec<Scope>,
    /// Numeric conditions, all of which must hold.
    pub conditions: Vec<Condition>,
}

/// One scored value as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct RuleInput<'a> {
    /// `(field, value)` of each split the value has (partition, by, over).
    pub splits: &'a [(&'a str, &'a str)],
    /// The bucket's value.
    pub actual: f64,
    /// The model's typical value.
    pub typical: f64,
    /// Start of the bucket, epoch milliseconds.
    pub time_ms: i64,
}

/// What the rules of a detector decided for one value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    /// Write no record, and keep the value out of the bucket score and normalizer.
    pub skip_result: bool,
    /// Keep the value out of the model.
    pub skip_model_update: bool,
}

impl Rule {
    /// Whether the rule applies to `input`: the scope matches and every condition holds.
    pub fn applies(&self, input: &RuleInput) -> bool {
        let in_scope = self.scope.iter().all(|s| {
            let value = input
                .splits
                .iter()
                .find(|(f, _)| *f == s.field)
                .map(|(_, v)| *v);
            let listed = value.is_some_and(|v| s.filter.contains(v));
            listed == (s.filter_type == FilterType::Include)
        });
        in_scope && self.conditions.iter().all(|c| c.holds(input))
    }
}

impl Condition {
    fn holds(&self, input: &RuleInput) -> bool {
        let x = match self.applies_to {
            AppliesTo::Actual => input.actual,
            AppliesTo::Typical => input.typical,
            AppliesTo::DiffFromTypical => (input.actual - input.typical).abs(),
            AppliesTo::Time => (input.time_ms / 1000) as f64,
        };
        match self.operator {
            Operator::Gt => x > self.value,
            Operator::Gte => x >= self.value,
            Operator::Lt => x < self.value,
            Operator::Lte => x <= self.value,
        }
    }
}

/// The union of the actions of every rule in `rules` that applies to `input`.
pub fn outcome(rules: &[Rule], input: &RuleInput) -> RuleOutcome {
    let mut out = RuleOutcome::default();
    for rule in rules.iter().filter(|r| r.applies(input)) {
        for a in &rule.actions {
            match a {
                RuleAction::SkipResult => out.skip_result = true,
                RuleAction::SkipModelUpdate => out.skip_model_update = true,
            }
        }
    }
    out
}

/// Checks a detector's `custom_rules` at `base` (`analysis_config.detectors[0]`) against its
/// split fields and the known filter lists; returns the rules when all are valid.
pub(crate) fn check_rules(
    base: &str,
    list: &[RuleConfig],
    split_fields: &[&str],
    filters: &BTreeMap<String, FilterList>,
    pos: &Positions,
    p: &mut Problems,
) -> Vec<Rule> {
    let before = p.list.len();
    let mut rules = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let path = format!("{base}.custom_rules[{i}]");
        let actions = check_actions(&path, r.actions.as_deref(), pos, p);
        let mut scope = Vec::new();
        for (field, s) in r.scope.iter().flatten() {
            scope.extend(check_scope(&path, field, s, split_fields, filters, pos, p));
        }
        let conditions: Vec<Condition> = r
            .conditions
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(j, c)| check_condition(&format!("{path}.conditions[{j}]"), c, pos, p))
            .collect();
        if r.scope.as_ref().is_none_or(BTreeMap::is_empty)
            && r.conditions.as_ref().is_none_or(Vec::is_empty)
        {
            p.at(pos.of(&path), &path, "a rule needs a `scope` or at least one `condition`; without either it would apply to every result");
        }
        rules.push(Rule {
            actions,
            scope,
            conditions,
        });
    }
    if p.list.len() > before {
        return Vec::new();
    }
    rules
}

fn check_actions(
    path: &str,
    list: Option<&[String]>,
    pos: &Positions,
    p: &mut Problems,
) -> Vec<RuleAction> {
    let Some(list) = list else {
        return vec![RuleAction::SkipResult];
    };
    if list.is_empty() {
        let apath = format!("{path}.actions");
        p.at(
            pos.of(&apath),
            &apath,
            "no actions; expected `skip_result`, `skip_model_update` or both",
        );
    }
    let mut actions = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let choices = [
            ("skip_result", RuleAction::SkipResult),
            ("skip_model_update", RuleAction::SkipModelUpdate),
        ];
        let apath = format!("{path}.actions[{i}]");
        match keyword(a, &choices, &apath, pos, p) {
            Some(action) if !actions.contains(&action) => actions.push(action),
            _ => {}
        }
    }
    actions
}

fn check_scope(
    path: &str,
    field: &str,
    s: &ScopeConfig,
    split_fields: &[&str],
    filters: &BTreeMap<String, FilterList>,
    pos: &Positions,
    p: &mut Problems,
) -> Option<Scope> {
    let spath = format!("{path}.scope.{field}");
    if !split_fields.contains(&field) {
        let expected = if split_fields.is_empty() {
            "this detector has no by_field_name, over_field_name or partition_field_name, so a rule can only have conditions".to_string()
        } else {
            format!("expected one of: {}", split_fields.join(", "))
        };
        p.at(
            pos.key_of(&spath),
            &spath,
            format!("`{field}` is not a split field of this detector; {expected}"),
        );
    }
    let filter_type = keyword(
        s.filter_type.as_deref().unwrap_or("include"),
        &[
            ("include", FilterType::Include),
            ("exclude", FilterType::Exclude),
        ],
        &format!("{spath}.filter_type"),
        pos,
        p,
    )?;
    let id = s.filter_id.as_deref()?; // missing: reported by the shape check
    let Some(filter) = filters.get(id) else {
        let fpath = format!("{spath}.filter_id");
        let known: Vec<&str> = filters.keys().map(String::as_str).collect();
        let hint = match super::problems::did_you_mean(id, &known) {
            Some(s) => format!("did you mean `{s}`?"),
            None if known.is_empty() => "there is none; add a YAML file to the jobs directory with `filter_id`, `description` and `items`".to_string(),
            None => format!("known filter lists: {}", known.join(", ")),
        };
        p.at(
            pos.of(&fpath),
            &fpath,
            format!("no filter list `{id}` in the jobs directory; {hint}"),
        );
        return None;
    };
    Some(Scope {
        field: field.to_string(),
        filter_type,
        filter: filter.clone(),
    })
}

fn check_condition(
    path: &str,
    c: &ConditionConfig,
    pos: &Positions,
    p: &mut Problems,
) -> Option<Condition> {
    let applies_to = keyword(
        c.applies_to.as_deref()?,
        &[
            ("actual", AppliesTo::Actual),
            ("typical", AppliesTo::Typical),
            ("diff_from_typical", AppliesTo::DiffFromTypical),
            ("time", AppliesTo::Time),
        ],
        &format!("{path}.applies_to"),
        pos,
        p,
    );
    let operator = keyword(
        c.operator.as_deref()?,
        &[
            ("gt", Operator::Gt),
            ("gte", Operator::Gte),
            ("lt", Operator::Lt),
            ("lte", Operator::Lte),
        ],
        &format!("{path}.operator"),
        pos,
        p,
    );
    Some(Condition {
        applies_to: applies_to?,
        operator: operator?,
        value: c.value?,
    })
}

/// The value a keyword (`text`, at `path`) stands for among `choices`; else a problem naming
/// the words accepted.
fn keyword<T: Copy>(
    text: &str,
    choices: &[(&str, T)],
    path: &str,
    pos: &Positions,
    p: &mut Problems,
) -> Option<T> {
    if let Some((_, value)) = choices.iter().find(|(word, _)| *word == text) {
        return Some(*value);
    }
    let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
    let hint = super::problems::did_you_mean(text, &words)
        .map(|s| format!("did you mean `{s}`? "))
        .unwrap_or_default();
    let expected: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    p.at(
        pos.of(path),
        path,
        format!(
            "unknown value `{text}`; {hint}expected {}",
            expected.join(", ")
        ),
    );
    None
}

/// Converts a shape-checked filter file; `None` with problems when it is not valid.
pub(crate) fn check_filter(
    raw: &FilterConfig,
    pos: &Positions,
    p: &mut Problems,
) -> Option<FilterList> {
    let id = raw.filter_id.clone()?;
    if !super::check::valid_job_id(&id) {
        p.at(pos.of("filter_id"), "filter_id", format!("`{id}` is not a valid filter_id; use lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit, at most 64 characters"));
        return None;
    }
    let items = raw.items.clone().unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let path = format!("items[{i}]");
        if item.is_empty() || item.trim_matches('*').contains('*') {
            p.at(pos.of(&path), &path, format!("`{item}` is not a filter item; expected a value, optionally with `*` at its start or end (e.g. `10.0.*`)"));
        }
    }
    Some(FilterList {
        filter_id: id,
        description: raw.description.clone().unwrap_or_default(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> FilterList {
        FilterList {
            filter_id: "f".into(),
            description: String::new(),
            items: items.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn items_match_exactly_or_by_a_wildcard_at_either_end() {
        let f = list(&["10.0.*", "*.example.com", "exact", "*mid*"]);
        assert!(f.contains("10.0.3.4"));
        assert!(!f.contains("10.1.0.1"));
        assert!(f.contains("api.example.com"));
        assert!(!f.contains("example.com.evil"));
        assert!(f.contains("exact"));
        assert!(!f.contains("exactly"));
        assert!(f.contains("a-mid-b"));
    }

    #[test]
    fn scope_and_conditions_must_all_hold_and_rules_combine_with_or() {
        let scope = Scope {
            field: "client".into(),
            filter_type: FilterType::Include,
            filter: list(&["scanner"]),
        };
        let skip = Rule {
            actions: vec![RuleAction::SkipResult],
            scope: vec![scope.clone()],
            conditions: vec![Condition {
                applies_to: AppliesTo::DiffFromTypical,
                operator: Operator::Gte,
                value: 10.0,
            }],
        };
        let at = |client: &'static str, actual: f64| {
            let splits: &'static [(&str, &str)] = match client {
                "scanner" => &[("client", "scanner")],
                _ => &[("client", "other")],
            };
            RuleInput {
                splits,
                actual,
                typical: 5.0,
                time_ms: 3_600_000,
            }
        };
        assert!(skip.applies(&at("scanner", 15.0)));
        assert!(!skip.applies(&at("scanner", 14.0)), "diff 9 < 10");
        assert!(!skip.applies(&at("other", 50.0)), "out of scope");
        let mut exclude = skip.clone();
        exclude.scope[0].filter_type = FilterType::Exclude;
        assert!(exclude.applies(&at("other", 50.0)));
        assert!(!exclude.applies(&at("scanner", 50.0)));
        let early = Rule {
            actions: vec![RuleAction::SkipModelUpdate],
            scope: vec![],
            conditions: vec![Condition {
                applies_to: AppliesTo::Time,
                operator: Operator::Lt,
                value: 7200.0,
            }],
        };
        let both = outcome(&[skip, early], &at("scanner", 15.0));
        assert_eq!(
            both,
            RuleOutcome {
                skip_result: true,
                skip_model_update: true
            }
        );
    }

    #[test]
    fn rule_problems_name_their_field_and_the_fix() {
        let text = "job_id: j\nanalysis_config:\n  bucket_span: 15m\n  detectors:\n    - function: count\n      by_field_name: status\n      custom_rules:\n        - actions: [skip_results]\n          scope: {host: {filter_id: hosts}}\n          conditions: [{applies_to: actual, operator: gtee, value: 3}]\n        - actions: [skip_result]\ndatafeed_config:\n  indices: [logs]\n";
        let errors = crate::config::load_job_str("j.yml", text).unwrap_err().0;
        let base = "analysis_config.detectors[0].custom_rules";
        let got: Vec<(usize, String, &str)> = errors
            .iter()
            .map(|e| {
                let field = e.field.as_deref().unwrap_or_default();
                (
                    e.line.unwrap_or(0),
                    field.replace(base, ""),
                    e.message.as_str(),
                )
            })
            .collect();
        let expected = [
            (8, "[0].actions[0]", "did you mean `skip_result`?"),
            (
                9,
                "[0].scope.host",
                "not a split field of this detector; expected one of: status",
            ),
            (9, "[0].scope.host.filter_id", "no filter list `hosts`"),
            (10, "[0].conditions[0].operator", "did you mean `gte`?"),
            (
                11,
                "[1]",
                "a rule needs a `scope` or at least one `condition`",
            ),
        ];
        assert_eq!(got.len(), expected.len(), "{errors:#?}");
        for ((line, field, msg), (l, f, m)) in got.iter().zip(expected) {
            assert_eq!((*line, field.as_str()), (l, f), "{msg}");
            assert!(msg.contains(m), "{field}: {msg}");
        }
    }
}
