//! The tenant's tree joined with a platform's accounts (Prisma Cloud or Cortex Cloud: the
//! caller maps its accounts to [`PlatformAccount`]): each subscription onboarded as its own
//! account, covered by a tenant or management-group account, onboarded but disabled or
//! failing, or not onboarded; with counts at every level of the tree.

use serde::Serialize;

use crate::discovery::{Group, Subscription, TenantTree};

/// What an account on the platform stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountScope {
    Subscription,
    Tenant,
    ManagementGroup,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformAccount {
    /// Subscription, tenant or management-group id.
    pub id: String,
    pub scope: AccountScope,
    pub enabled: bool,
    /// The platform reports it in error.
    pub failing: bool,
    /// Which subscriptions below it a tenant or management-group account covers.
    pub subscriptions: SubscriptionFilter,
}

/// The subscriptions a tenant or management-group account covers: all of them (Prisma Cloud's
/// tenant accounts, a Cortex Cloud instance without a list), only the listed ones or all but
/// the listed ones (a Cortex Cloud instance's `scope_modifications.subscriptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SubscriptionFilter {
    #[default]
    All,
    Only(Vec<String>),
    Except(Vec<String>),
}

impl SubscriptionFilter {
    fn admits(&self, subscription: &str) -> bool {
        let listed = |ids: &[String]| ids.iter().any(|i| i.eq_ignore_ascii_case(subscription));
        match self {
            SubscriptionFilter::All => true,
            SubscriptionFilter::Only(ids) => listed(ids),
            SubscriptionFilter::Except(ids) => !listed(ids),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Coverage {
    OwnAccount,
    /// By the account of the tenant or of a management group above it.
    Covered {
        by: String,
        scope: AccountScope,
    },
    /// Its own account is disabled or failing.
    NotWorking {
        why: &'static str,
    },
    NotOnboarded,
}

impl Coverage {
    pub fn words(&self) -> String {
        match self {
            Coverage::OwnAccount => "own account".into(),
            Coverage::Covered {
                by,
                scope: AccountScope::Tenant,
            } => format!("covered by tenant account {by}"),
            Coverage::Covered { by, .. } => format!("covered by management group account {by}"),
            Coverage::NotWorking { why } => format!("onboarded but {why}"),
            Coverage::NotOnboarded => "not onboarded".into(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub subscriptions: usize,
    pub own_account: usize,
    pub covered: usize,
    pub not_working: usize,
    pub not_onboarded: usize,
}

impl Counts {
    fn add(&mut self, c: &Coverage) {
        self.subscriptions += 1;
        match c {
            Coverage::OwnAccount => self.own_account += 1,
            Coverage::Covered { .. } => self.covered += 1,
            Coverage::NotWorking { .. } => self.not_working += 1,
            Coverage::NotOnboarded => self.not_onboarded += 1,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupCoverage {
    #[serde(flatten)]
    pub group: Group,
    /// 0 for the tenant root group.
    pub depth: usize,
    /// Subscriptions in this group and below.
    pub counts: Counts,
}

#[derive(Clone, Debug, Serialize)]
pub struct SubscriptionCoverage {
    #[serde(flatten)]
    pub subscription: Subscription,
    pub coverage: Coverage,
}

#[derive(Clone, Debug, Serialize)]
pub struct CoverageReport {
    pub tenant_id: String,
    pub totals: Counts,
    pub groups: Vec<GroupCoverage>,
    pub subscriptions: Vec<SubscriptionCoverage>,
}

fn ancestors(tree: &TenantTree, group: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = Some(group.to_owned());
    while let Some(id) = next {
        let g = tree.groups.iter().find(|g| g.id.eq_ignore_ascii_case(&id));
        out.push(id);
        next = g.and_then(|g| g.parent.clone());
        if out.len() > tree.groups.len() {
            break;
        }
    }
    out
}

/// Joins `tree` with `accounts`. Several accounts may stand for one scope (Cortex Cloud allows
/// more than one instance per tenant, each with its own subscription list): a subscription's
/// own account counts as working when any of its accounts works, and it is covered when any
/// enabled account above it admits it.
pub fn join(tree: &TenantTree, accounts: &[PlatformAccount]) -> CoverageReport {
    fn of<'a>(
        accounts: &'a [PlatformAccount],
        id: &'a str,
        scope: AccountScope,
    ) -> impl Iterator<Item = &'a PlatformAccount> {
        accounts
            .iter()
            .filter(move |a| a.scope == scope && a.id.eq_ignore_ascii_case(id))
    }
    let subscriptions: Vec<SubscriptionCoverage> = tree
        .subscriptions
        .iter()
        .map(|s| {
            let own: Vec<&PlatformAccount> =
                of(accounts, &s.id, AccountScope::Subscription).collect();
            let coverage = if own.iter().any(|a| a.enabled && !a.failing) {
                Coverage::OwnAccount
            } else if own.iter().any(|a| a.enabled) {
                Coverage::NotWorking { why: "failing" }
            } else if !own.is_empty() {
                Coverage::NotWorking { why: "disabled" }
            } else {
                let above = ancestors(tree, &s.management_group);
                let by = above.iter().find_map(|g| {
                    let scope = if g.eq_ignore_ascii_case(&tree.tenant_id) {
                        AccountScope::Tenant
                    } else {
                        AccountScope::ManagementGroup
                    };
                    of(accounts, g, scope)
                        .find(|a| a.enabled && a.subscriptions.admits(&s.id))
                        .map(|a| (a.id.clone(), scope))
                });
                match by {
                    Some((by, scope)) => Coverage::Covered { by, scope },
                    None => Coverage::NotOnboarded,
                }
            };
            SubscriptionCoverage {
                subscription: s.clone(),
                coverage,
            }
        })
        .collect();
    let mut totals = Counts::default();
    subscriptions.iter().for_each(|s| totals.add(&s.coverage));
    let groups = tree
        .groups
        .iter()
        .map(|g| {
            let mut counts = Counts::default();
            for s in &subscriptions {
                if ancestors(tree, &s.subscription.management_group)
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&g.id))
                {
                    counts.add(&s.coverage);
                }
            }
            GroupCoverage {
                group: g.clone(),
                depth: ancestors(tree, &g.id).len() - 1,
                counts,
            }
        })
        .collect();
    CoverageReport {
        tenant_id: tree.tenant_id.clone(),
        totals,
        groups,
        subscriptions,
    }
}

impl CoverageReport {
    /// Subscriptions not covered (not onboarded, or onboarded but not working).
    pub fn not_covered(&self) -> impl Iterator<Item = &SubscriptionCoverage> {
        self.subscriptions.iter().filter(|s| {
            matches!(
                s.coverage,
                Coverage::NotOnboarded | Coverage::NotWorking { .. }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> TenantTree {
        let g = |id: &str, parent: Option<&str>| Group {
            id: id.into(),
            display_name: id.into(),
            parent: parent.map(Into::into),
        };
        let s = |id: &str, mg: &str| Subscription {
            id: id.into(),
            display_name: id.into(),
            state: "Enabled".into(),
            management_group: mg.into(),
        };
        TenantTree {
            tenant_id: "t".into(),
            groups: vec![
                g("t", None),
                g("a", Some("t")),
                g("b", Some("t")),
                g("b1", Some("b")),
            ],
            subscriptions: vec![
                s("s1", "a"),
                s("s2", "a"),
                s("s3", "b1"),
                s("s4", "b"),
                s("s5", "t"),
            ],
        }
    }

    #[test]
    fn each_subscription_gets_one_state_and_every_level_counts_its_subtree() {
        let accounts = [
            PlatformAccount {
                id: "s1".into(),
                scope: AccountScope::Subscription,
                enabled: true,
                failing: false,
                subscriptions: SubscriptionFilter::All,
            },
            PlatformAccount {
                id: "s2".into(),
                scope: AccountScope::Subscription,
                enabled: false,
                failing: false,
                subscriptions: SubscriptionFilter::All,
            },
            PlatformAccount {
                id: "b".into(),
                scope: AccountScope::ManagementGroup,
                enabled: true,
                failing: false,
                subscriptions: SubscriptionFilter::All,
            },
        ];
        let r = join(&tree(), &accounts);
        let state = |id: &str| {
            r.subscriptions
                .iter()
                .find(|s| s.subscription.id == id)
                .unwrap()
                .coverage
                .clone()
        };
        assert_eq!(state("s1"), Coverage::OwnAccount);
        assert_eq!(state("s2"), Coverage::NotWorking { why: "disabled" });
        assert_eq!(
            state("s3"),
            Coverage::Covered {
                by: "b".into(),
                scope: AccountScope::ManagementGroup
            }
        );
        assert_eq!(state("s5"), Coverage::NotOnboarded);
        assert_eq!(
            r.totals,
            Counts {
                subscriptions: 5,
                own_account: 1,
                covered: 2,
                not_working: 1,
                not_onboarded: 1
            }
        );
        let b = r.groups.iter().find(|g| g.group.id == "b").unwrap();
        assert_eq!(
            (b.depth, b.counts.subscriptions, b.counts.covered),
            (1, 2, 2)
        );
        assert_eq!(r.groups[0].counts.subscriptions, 5);
        assert_eq!(r.not_covered().count(), 2);
        let tenant = join(
            &tree(),
            &[PlatformAccount {
                id: "t".into(),
                scope: AccountScope::Tenant,
                enabled: true,
                failing: false,
                subscriptions: SubscriptionFilter::All,
            }],
        );
        assert_eq!(tenant.totals.covered, 5);
    }
}
