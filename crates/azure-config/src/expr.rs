//! A small scanner of Terraform JSON-syntax strings.
//!
//! In `.tf.json`, every string value is a template: `"Prisma Cloud ${var.name_suffix}"`.
//! [`interpolations`] returns the code of each `${ ... }`, including interpolations nested in
//! quoted strings inside the code (`"${sha256("${var.seed}/x")}"`), with the contents of
//! quoted strings blanked out. [`references`] returns the traversals in that code
//! (`var.name_suffix`, `azuread_application.prisma_cloud.client_id`,
//! `data.azuread_service_principal.msgraph.object_id`, `each.key`).
//!
//! It understands what our generators emit (no heredocs, no `%{` directives); it is not a
//! full HCL parser.

/// Roots that are not declared objects (`each.key`, `count.index`, `self.x`, `path.module`,
/// `terraform.workspace`).
pub const BUILTIN_ROOTS: [&str; 5] = ["each", "count", "self", "path", "terraform"];

/// The code of every interpolation in `template`, outermost first; quoted-string contents are
/// replaced by spaces, and nested interpolations are returned as separate entries.
pub fn interpolations(template: &str) -> Vec<String> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
            i += 3; // `$${` is a literal `${`
        } else if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
            i = scan_code(&chars, i + 2, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Scans code from `start` up to its closing `}`; pushes the code (and nested code) to
/// `out`; returns the index after the closing brace (or the end).
fn scan_code(chars: &[char], start: usize, out: &mut Vec<String>) -> usize {
    let slot = out.len();
    out.push(String::new());
    let mut code = String::new();
    let mut depth = 0usize;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '{' => {
                depth += 1;
                code.push('{');
                i += 1;
            }
            '}' if depth == 0 => {
                i += 1;
                break;
            }
            '}' => {
                depth -= 1;
                code.push('}');
                i += 1;
            }
            '"' => {
                code.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 2;
                        code.push_str("  ");
                    } else if chars[i] == '$'
                        && chars.get(i + 1) == Some(&'$')
                        && chars.get(i + 2) == Some(&'{')
                    {
                        i += 3;
                        code.push_str("   ");
                    } else if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
                        i = scan_code(chars, i + 2, out);
                        code.push(' ');
                    } else {
                        i += 1;
                        code.push(' ');
                    }
                }
                code.push('"');
                i += 1;
            }
            c => {
                code.push(c);
                i += 1;
            }
        }
    }
    out[slot] = code;
    i
}

/// The traversals (`root.attr[...]` chains with at least two dotted parts) in `template`'s
/// interpolations, in order, as their dotted parts (`["var", "tenant_id"]`). Index
/// expressions end a traversal.
pub fn references(template: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for code in interpolations(template) {
        let chars: Vec<char> = code.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let continues = i > 0 && matches!(chars[i - 1], '.' | ']');
            if (c.is_ascii_alphabetic() || c == '_')
                && !continues
                && !(i > 0 && is_ident(chars[i - 1]))
            {
                let mut parts = vec![String::new()];
                while i < chars.len() {
                    if is_ident(chars[i]) {
                        parts.last_mut().expect("non-empty").push(chars[i]);
                        i += 1;
                    } else if chars[i] == '.'
                        && chars
                            .get(i + 1)
                            .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
                    {
                        parts.push(String::new());
                        i += 1;
                    } else {
                        break;
                    }
                }
                if parts.len() >= 2 {
                    out.push(parts);
                }
            } else {
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The managed resources (`type.name`) that `template` refers to.
pub fn resource_references(template: &str) -> Vec<String> {
    references(template)
        .into_iter()
        .filter(|p| p[0] != "var" && p[0] != "data" && p[0] != "local")
        .filter(|p| !BUILTIN_ROOTS.contains(&p[0].as_str()))
        .map(|p| format!("{}.{}", p[0], p[1]))
        .collect()
}

/// Every string in a JSON value (object keys excluded), depth first.
pub fn all_strings(value: &serde_json::Value) -> Vec<&str> {
    fn walk<'v>(v: &'v serde_json::Value, out: &mut Vec<&'v str>) {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(s: &str) -> Vec<String> {
        references(s).into_iter().map(|p| p.join(".")).collect()
    }

    #[test]
    fn plain_text_has_no_interpolation() {
        assert!(interpolations("/providers/Microsoft.Management/x").is_empty());
        assert!(refs("Microsoft.Network/read").is_empty());
        assert!(interpolations("$${var.x}").is_empty());
    }

    #[test]
    fn finds_references_in_text() {
        assert_eq!(
            refs("/providers/Microsoft.Management/managementGroups/${var.tenant_id}"),
            ["var.tenant_id"]
        );
        assert_eq!(
            refs("${azuread_application.prisma_cloud.client_id}"),
            ["azuread_application.prisma_cloud.client_id"]
        );
        assert_eq!(
            refs("${data.azuread_service_principal.msgraph.app_role_ids[each.key]}"),
            [
                "data.azuread_service_principal.msgraph.app_role_ids",
                "each.key"
            ]
        );
    }

    #[test]
    fn string_literals_and_nesting() {
        let s = r#"${can(regex("^[a-z0-9]{5}$", var.name_suffix))}"#;
        assert_eq!(interpolations(s).len(), 1);
        assert_eq!(refs(s), ["var.name_suffix"]);
        let s = r#"${substr(sha256("${var.twin_secret_seed}/${terraform_data.a__b.output.key_id}"), 0, 40)}"#;
        assert_eq!(
            refs(s),
            ["var.twin_secret_seed", "terraform_data.a__b.output.key_id"]
        );
        let s = r#"${uuidv5("oid", "x/azuread_application.prisma_cloud/client_id")}"#;
        assert!(refs(s).is_empty(), "{:?}", refs(s));
        let s = r#"${data.x.y.result["MicrosoftGraph"]}"#;
        assert_eq!(refs(s), ["data.x.y.result"]);
        assert_eq!(
            resource_references("${toset(var.a)} ${time_rotating.secret.id} ${each.key}"),
            ["time_rotating.secret"]
        );
    }

    #[test]
    fn numbers_and_index_chains_are_not_references() {
        assert!(refs("${var.days * 24}h").contains(&"var.days".to_string()));
        assert!(refs("${1.5}").is_empty());
        assert_eq!(refs("${a.b[0].c}"), ["a.b"]);
    }
}
