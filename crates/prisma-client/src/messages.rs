//! What Prisma's i18n keys mean, and what to do about them.
//!
//! The API reports errors as bare keys (`invalid_account_group_ids`); users of other tools file
//! those keys verbatim as bug titles. Every key documented for the endpoints we use is here
//! with a sentence a person understands and the fix.

/// A key's meaning and the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHelp {
    pub meaning: &'static str,
    pub fix: &'static str,
}

const fn h(meaning: &'static str, fix: &'static str) -> KeyHelp {
    KeyHelp { meaning, fix }
}

/// Every documented key, with its help.
pub const KNOWN_KEYS: &[(&str, KeyHelp)] = &[
    (
        "invalid_credentials",
        h(
            "the access key ID or secret key was not accepted",
            "check PRISMA_ACCESS_KEY_ID / PRISMA_SECRET_KEY and that the key is enabled and not expired",
        ),
    ),
    (
        "sso_enabled_password_login_attempt",
        h(
            "this user signs in with SSO and cannot log in with a password",
            "create an access key for the user and log in with it",
        ),
    ),
    (
        "token_expired",
        h(
            "the session token has expired",
            "log in again (the client does this by itself; seeing it means the new login failed too)",
        ),
    ),
    (
        "login_needs_customer_name",
        h(
            "this login belongs to several Prisma Cloud tenants and none was chosen",
            "set PRISMA_CUSTOMER_NAME to one of the listed tenants",
        ),
    ),
    (
        "duplicate_cloud_account",
        h(
            "this Azure account is already onboarded",
            "update it instead of adding it (azure-cortex adopts it for you)",
        ),
    ),
    (
        "duplicate_cloud_account_name",
        h(
            "another cloud account already has this name",
            "choose a different account name",
        ),
    ),
    (
        "duplicate_cloud_account_needs_upgrade",
        h(
            "this account exists in an older onboarding mode that must be upgraded",
            "upgrade the account in the Prisma Cloud console, then retry",
        ),
    ),
    (
        "invalid_account_id_format",
        h(
            "an account, subscription or tenant ID has the wrong format",
            "use the canonical GUID (8-4-4-4-12 hexadecimal digits)",
        ),
    ),
    (
        "cannot_select_zero_account_groups",
        h(
            "no account group was chosen",
            "choose at least one account group",
        ),
    ),
    (
        "invalid_account_group_ids",
        h(
            "an account group does not exist",
            "list the groups (azure-cortex groups list) and use one of them, or create it",
        ),
    ),
    (
        "invalid_account_type",
        h(
            "the account type is not valid for Azure",
            "use account (a subscription) or tenant",
        ),
    ),
    (
        "bad_request",
        h(
            "the request was malformed",
            "check the field named in the error",
        ),
    ),
    (
        "unauthorized_access",
        h(
            "the access key's role may not do this",
            "use a key whose role can onboard cloud accounts (e.g. System Admin or Cloud Provisioning Admin)",
        ),
    ),
    (
        "invalid_cloud_type",
        h("the cloud type is not valid here", "use azure"),
    ),
    (
        "cannot_delete_org_child",
        h(
            "this subscription belongs to an onboarded tenant and cannot be deleted on its own",
            "exclude it from the tenant's selection, or offboard the tenant",
        ),
    ),
    (
        "invalid_account_patch",
        h(
            "the enable/disable request was not valid",
            "use true or false",
        ),
    ),
    (
        "cloud_account_already_enabled",
        h("the account is already enabled", "nothing to do"),
    ),
    (
        "cloud_account_already_disabled",
        h("the account is already disabled", "nothing to do"),
    ),
    (
        "not_found",
        h(
            "the object does not exist (or is not readable yet: new accounts take a moment)",
            "check the ID; right after onboarding, wait and retry",
        ),
    ),
    (
        "not_an_org",
        h(
            "the account is not a tenant or organization",
            "list children only for tenant accounts",
        ),
    ),
    (
        "invalid_account_group_name",
        h(
            "the account group name is not valid",
            "use a non-empty name of at most 100 characters",
        ),
    ),
    (
        "account_group_name_already_exists",
        h(
            "an account group with this name already exists",
            "use the existing group (azure-cortex adopts it) or choose another name",
        ),
    ),
    (
        "invalid_account_ids",
        h(
            "an account listed for the group does not exist",
            "list the accounts and use existing IDs",
        ),
    ),
    ("invalid_id", h("the ID does not exist", "check the ID")),
    (
        "conflict_deleting_last_account_group_for_alert_rule",
        h(
            "the group is the last one of an alert rule",
            "change the alert rule first",
        ),
    ),
    (
        "cannot_delete_an_account_group_associated_with_cloud_accounts",
        h(
            "the group still has cloud accounts",
            "move the accounts to another group first",
        ),
    ),
    (
        "internal_error",
        h(
            "Prisma Cloud had an internal error",
            "retry later; if it persists, contact support with the request id",
        ),
    ),
    (
        "rate_limit_exceeded",
        h(
            "too many requests to this endpoint",
            "slow down; the client paces itself and retries",
        ),
    ),
    (
        "storage_scan_config_incorrect",
        h(
            "the storage scan configuration is incorrect",
            "check the storage scanning settings of the account",
        ),
    ),
    (
        "external_id_empty_or_not_generated",
        h(
            "the external ID is missing or was not generated",
            "generate the template again and use its external ID",
        ),
    ),
    (
        "auth_token_missing",
        h("the request carried no session token", "log in first"),
    ),
    (
        "invalid_auth_token",
        h("the session token is not valid", "log in again"),
    ),
    (
        "request_too_large",
        h(
            "the request body is too large",
            "send fewer items per request",
        ),
    ),
];

/// The help for a key; keys ending in `_already_exists` share one.
pub fn describe(key: &str) -> Option<KeyHelp> {
    KNOWN_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, h)| *h)
        .or_else(|| {
            key.ends_with("_already_exists").then_some(h(
                "the object already exists",
                "use the existing object or choose another name",
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_key_has_help() {
        for key in [
            "invalid_credentials",
            "sso_enabled_password_login_attempt",
            "token_expired",
            "duplicate_cloud_account_name",
            "duplicate_cloud_account",
            "invalid_account_id_format",
            "duplicate_cloud_account_needs_upgrade",
            "cannot_select_zero_account_groups",
            "invalid_account_group_ids",
            "invalid_account_type",
            "bad_request",
            "unauthorized_access",
            "invalid_cloud_type",
            "cannot_delete_org_child",
            "invalid_account_patch",
            "cloud_account_already_enabled",
            "cloud_account_already_disabled",
            "not_found",
            "not_an_org",
            "invalid_account_group_name",
            "account_group_name_already_exists",
            "invalid_account_ids",
            "invalid_id",
            "internal_error",
            "conflict_deleting_last_account_group_for_alert_rule",
            "cannot_delete_an_account_group_associated_with_cloud_accounts",
        ] {
            let help = describe(key).unwrap_or_else(|| panic!("no help for {key}"));
            assert!(!help.meaning.is_empty() && !help.fix.is_empty());
        }
        assert!(describe("policy_already_exists").is_some());
        assert!(describe("made_up_key").is_none());
    }
}
