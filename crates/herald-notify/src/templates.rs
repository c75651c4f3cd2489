//! Templates: per channel, versioned, localised, rendered with `minijinja`, and checked
//! against the schema of the data they render when they are saved.

use chrono::Utc;
use herald_db::{Database, Statement};
use herald_registry::{SchemaStore, VersionRef};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::recipients::check_channel;
use crate::{NotifyError, Result, micros};

/// Variables every template may use besides the event's data.
const BUILTINS: &[&str] = &["recipient"];

/// One version of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    /// Its name, e.g. `order_shipped`.
    pub name: String,
    /// The channel it is for.
    pub channel: String,
    /// Its locale, e.g. `en`, `de`, `de-CH`.
    pub locale: String,
    /// Its version (from 1).
    pub version: i32,
    /// The subject line (email) or title (push); none for SMS and webhooks.
    pub subject: Option<String>,
    /// The body.
    pub body: String,
    /// The registry subject whose schema its fields were checked against.
    pub schema_subject: Option<String>,
}

/// What a template renders to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject or title.
    pub subject: Option<String>,
    /// The body.
    pub body: String,
}

impl Template {
    /// Renders with the event's `data` (its fields are top-level variables) and the
    /// recipient's id and locale (`recipient.id`, `recipient.locale`). A field the data
    /// lacks is an error, never an empty string.
    pub fn render(
        &self,
        data: &serde_json::Value,
        recipient: &str,
        locale: &str,
    ) -> Result<Rendered> {
        let env = environment();
        let context = minijinja::context! {
            recipient => minijinja::context! { id => recipient, locale => locale },
            ..minijinja::Value::from_serialize(data)
        };
        let render = |text: &str| {
            env.render_str(text, &context).map_err(|error| NotifyError::Render {
                name: self.name.clone(),
                reason: describe(&error),
            })
        };
        let subject = self.subject.as_deref().map(render).transpose()?;
        Ok(Rendered { subject, body: render(&self.body)? })
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{} ({detail})", error.kind()),
        None => error.kind().to_string(),
    }
}

/// The fields a template uses: dotted paths of undeclared variables, builtins aside.
fn fields_used(name: &str, text: &str) -> Result<Vec<String>> {
    let env = environment();
    let template = env.template_from_str(text).map_err(|error| NotifyError::BadTemplate {
        name: name.to_owned(),
        reason: format!("it does not parse: {}", describe(&error)),
    })?;
    let mut fields: Vec<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|field| !BUILTINS.contains(&field.split('.').next().unwrap_or_default()))
        .collect();
    fields.sort();
    Ok(fields)
}

/// Whether `schema` declares the dotted `path` (through `properties`, `$ref`s aside).
fn schema_declares(schema: &serde_json::Value, path: &str) -> bool {
    let mut at = schema;
    for segment in path.split('.') {
        match at.get("properties").and_then(|properties| properties.get(segment)) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

/// A `herald_templates` row: name, channel, locale, version, subject, body and schema
/// subject.
type TemplateRow = (String, String, String, i32, Option<String>, String, Option<String>);

/// A version of one template for one channel: locale, version, subject, body and schema
/// subject.
type VersionRow = (String, i32, Option<String>, String, Option<String>);

/// Templates in `herald_templates`.
#[derive(Debug, Clone)]
pub struct TemplateStore {
    db: Database,
}

impl TemplateStore {
    /// The store over `db` (whose registry tables hold the schemas templates name).
    pub fn new(db: Database) -> TemplateStore {
        TemplateStore { db }
    }

    /// Saves a new version of the template `name` for `channel` and `locale`. With
    /// `schema_subject`, every field the template uses must be declared by the latest
    /// schema of that registry subject (the schema of the data it renders).
    pub async fn save(
        &self,
        name: &str,
        channel: &str,
        locale: &str,
        subject: Option<&str>,
        body: &str,
        schema_subject: Option<&str>,
    ) -> Result<Template> {
        check_channel(channel)?;
        check_name(name)?;
        if locale.is_empty() {
            return Err(NotifyError::Invalid {
                field: "locale".into(),
                reason: "must not be empty".into(),
            });
        }
        let mut fields = fields_used(name, body)?;
        if let Some(subject) = subject {
            fields.extend(fields_used(name, subject)?);
        }
        if let Some(schema_subject) = schema_subject {
            self.check_fields(name, schema_subject, &fields).await?;
        }
        let sql = "INSERT INTO herald_templates (name, channel, locale, version, subject, body, schema_subject, created_at) \
                   SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4, $5, $6, $7 FROM herald_templates \
                   WHERE name = $1 AND channel = $2 AND locale = $3 RETURNING version";
        let statement = Statement::new(sql)
            .bind(name)
            .bind(channel)
            .bind(locale)
            .bind(subject)
            .bind(body)
            .bind(schema_subject)
            .bind(micros(Utc::now()));
        let (version,): (i32,) = self.db.writer().fetch_one(statement).await?;
        Ok(Template {
            name: name.to_owned(),
            channel: channel.to_owned(),
            locale: locale.to_owned(),
            version,
            subject: subject.map(str::to_owned),
            body: body.to_owned(),
            schema_subject: schema_subject.map(str::to_owned),
        })
    }

    async fn check_fields(
        &self,
        name: &str,
        schema_subject: &str,
        fields: &[String],
    ) -> Result<()> {
        let unavailable =
            |reason: String| NotifyError::Schema { subject: schema_subject.to_owned(), reason };
        let registered = SchemaStore::new(self.db.clone())
            .version(schema_subject, VersionRef::Latest)
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        let schema: serde_json::Value = serde_json::from_str(&registered.schema)
            .map_err(|error| unavailable(error.to_string()))?;
        let missing: Vec<&String> =
            fields.iter().filter(|field| !schema_declares(&schema, field)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let missing: Vec<String> = missing.iter().map(|field| format!("`{field}`")).collect();
        Err(NotifyError::BadTemplate {
            name: name.to_owned(),
            reason: format!(
                "it uses {} which the schema of `{schema_subject}` (version {}) does not declare",
                missing.join(", "),
                registered.version
            ),
        })
    }

    /// The latest version of `name` for `channel` in the best locale: `locale`, its
    /// language (`de` for `de-CH`), `en`, then any.
    pub async fn find(&self, name: &str, channel: &str, locale: &str) -> Result<Template> {
        let sql = "SELECT locale, version, subject, body, schema_subject FROM herald_templates \
                   WHERE name = $1 AND channel = $2 ORDER BY version DESC";
        let rows: Vec<VersionRow> =
            self.db.reader().fetch_all(Statement::new(sql).bind(name).bind(channel)).await?;
        let rows: Vec<Template> = rows
            .into_iter()
            .map(|(locale, version, subject, body, schema_subject)| Template {
                name: name.to_owned(),
                channel: channel.to_owned(),
                locale,
                version,
                subject,
                body,
                schema_subject,
            })
            .collect();
        let language = locale.split(['-', '_']).next().unwrap_or(locale);
        let preference = [locale, language, "en"];
        let best = preference
            .iter()
            .find_map(|wanted| rows.iter().find(|t| t.locale.eq_ignore_ascii_case(wanted)))
            .or_else(|| rows.first());
        best.cloned().ok_or_else(|| NotifyError::UnknownTemplate {
            name: name.to_owned(),
            channel: channel.to_owned(),
        })
    }

    /// Every template's latest version per channel and locale.
    pub async fn list(&self) -> Result<Vec<Template>> {
        let sql = "SELECT t.name, t.channel, t.locale, t.version, t.subject, t.body, t.schema_subject \
                   FROM herald_templates AS t WHERE t.version = (SELECT MAX(version) FROM herald_templates AS u \
                   WHERE u.name = t.name AND u.channel = t.channel AND u.locale = t.locale) \
                   ORDER BY t.name, t.channel, t.locale";
        let rows: Vec<TemplateRow> = self.db.reader().fetch_all(Statement::new(sql)).await?;
        Ok(rows
            .into_iter()
            .map(|(name, channel, locale, version, subject, body, schema_subject)| Template {
                name,
                channel,
                locale,
                version,
                subject,
                body,
                schema_subject,
            })
            .collect())
    }
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if valid {
        return Ok(());
    }
    Err(NotifyError::Invalid {
        field: "name".into(),
        reason: format!(
            "`{name}` is not a template name: 1 to 100 of a-z, A-Z, 0-9, `.`, `_`, `-`"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_dotted_paths_without_builtins() {
        let fields =
            fields_used("t", "Hi {{ customer.name }}, order {{ order_id }} for {{ recipient.id }}")
                .expect("parses");
        assert_eq!(fields, ["customer.name", "order_id"]);
        let error = fields_used("t", "{{ unclosed").expect_err("does not parse");
        assert!(error.to_string().contains("does not parse"), "{error}");
    }

    #[test]
    fn schemas_declare_nested_properties() {
        let schema = json!({"type": "object", "properties": {"order_id": {}, "customer": {"properties": {"name": {}}}}});
        assert!(schema_declares(&schema, "order_id"));
        assert!(schema_declares(&schema, "customer.name"));
        assert!(!schema_declares(&schema, "customer.email"));
        assert!(!schema_declares(&schema, "total"));
    }

    #[test]
    fn rendering_uses_data_and_refuses_missing_fields() {
        let template = Template {
            name: "shipped".into(),
            channel: "email".into(),
            locale: "en".into(),
            version: 1,
            subject: Some("Order {{ order_id }} shipped".into()),
            body: "Hello {{ recipient.id }}, it comes by {{ carrier }}.".into(),
            schema_subject: None,
        };
        let rendered = template
            .render(&json!({"order_id": "o-7", "carrier": "post"}), "u-1", "en")
            .expect("renders");
        assert_eq!(rendered.subject.as_deref(), Some("Order o-7 shipped"));
        assert_eq!(rendered.body, "Hello u-1, it comes by post.");
        let error =
            template.render(&json!({"order_id": "o-7"}), "u-1", "en").expect_err("no carrier");
        assert!(
            error.to_string().contains("shipped") && error.to_string().contains("undefined"),
            "{error}"
        );
    }
}
