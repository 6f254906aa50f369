//! The API reference people read at `/docs`: the OpenAPI document rendered
//! once as one HTML page (askama, `templates/reference.html`). Nothing comes
//! from elsewhere: no script, no font, no CDN; the pages' stylesheet and
//! CSP apply, so it works offline and behind any firewall.

use crate::pages::Site;
use askama::Template;
use serde_json::{Map, Value};

/// A parameter of an operation.
struct Parameter {
    name: String,
    location: String,
    required: bool,
    schema: String,
    description: String,
}

/// A body (of a request or a response): its media type and what it holds,
/// either a named schema of the document or an inline one.
struct Body {
    media_type: String,
    component: Option<String>,
    inline: Option<String>,
}

/// One answer an operation can give.
struct Answer {
    status: String,
    description: String,
    bodies: Vec<Body>,
}

/// One operation.
struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    bearer: bool,
    parameters: Vec<Parameter>,
    request: Vec<Body>,
    answers: Vec<Answer>,
}

/// A section: the operations of one tag.
struct Section {
    anchor: String,
    name: String,
    description: String,
    operations: Vec<Operation>,
}

/// A named schema of the document.
struct Component {
    name: String,
    json: String,
}

#[derive(Template)]
#[template(path = "reference.html")]
struct ReferencePage<'a> {
    site: &'a Site,
    title: String,
    version: String,
    description: String,
    server: String,
    sections: Vec<Section>,
    components: Vec<Component>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// `post /users/{username}` → `post-users-username`.
fn anchor(parts: &[&str]) -> String {
    let joined = parts.join("-");
    let mut out = String::with_capacity(joined.len());
    for c in joined.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

fn bodies(content: &Value) -> Vec<Body> {
    let Some(content) = content.as_object() else {
        return Vec::new();
    };
    content
        .iter()
        .map(|(media_type, media)| {
            let schema = &media["schema"];
            let component = schema["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(str::to_owned);
            let inline = match (&component, schema) {
                (None, Value::Object(map)) if !map.is_empty() => {
                    serde_json::to_string_pretty(schema).ok()
                }
                _ => None,
            };
            Body {
                media_type: media_type.clone(),
                component,
                inline,
            }
        })
        .collect()
}

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let parameters = op["parameters"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| Parameter {
                    name: text(&p["name"]),
                    location: text(&p["in"]),
                    required: p["required"].as_bool().unwrap_or(false),
                    schema: serde_json::to_string(&p["schema"]).unwrap_or_default(),
                    description: text(&p["description"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let answers = op["responses"]
        .as_object()
        .map(|responses| {
            responses
                .iter()
                .map(|(status, r)| {
                    let mut description = text(&r["description"]);
                    if description.is_empty() {
                        description = status
                            .parse()
                            .ok()
                            .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or_default()
                            .to_owned();
                    }
                    Answer {
                        status: status.clone(),
                        description,
                        bodies: bodies(&r["content"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Operation {
        anchor: anchor(&[method, path]),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary: text(&op["summary"]),
        description: text(&op["description"]),
        bearer: op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())),
        parameters,
        request: bodies(&op["requestBody"]["content"]),
        answers,
    }
}

/// The page, from the document.
pub(super) fn render(doc: &Value, site: &Site) -> Result<String, askama::Error> {
    let empty = Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    let mut sections: Vec<Section> = doc["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| Section {
                    anchor: anchor(&["section", &text(&t["name"])]),
                    name: text(&t["name"]),
                    description: text(&t["description"]),
                    operations: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    for (path, item) in paths {
        for method in METHODS {
            let op = &item[method];
            if !op.is_object() {
                continue;
            }
            let tag = op["tags"][0].as_str().unwrap_or("other");
            let index = match sections.iter().position(|s| s.name == tag) {
                Some(i) => i,
                None => {
                    sections.push(Section {
                        anchor: anchor(&["section", tag]),
                        name: tag.to_owned(),
                        description: String::new(),
                        operations: Vec::new(),
                    });
                    sections.len() - 1
                }
            };
            sections[index].operations.push(operation(path, method, op));
        }
    }
    sections.retain(|s| !s.operations.is_empty());
    let components = doc["components"]["schemas"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(name, schema)| Component {
            name: name.clone(),
            json: serde_json::to_string_pretty(schema).unwrap_or_default(),
        })
        .collect();
    ReferencePage {
        site,
        title: text(&doc["info"]["title"]),
        version: text(&doc["info"]["version"]),
        description: text(&doc["info"]["description"]),
        server: text(&doc["servers"][0]["url"]),
        sections,
        components,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anchors_are_lower_case_words_joined_by_single_dashes() {
        assert_eq!(
            anchor(&["post", "/users/{username}/password"]),
            "post-users-username-password"
        );
        assert_eq!(
            anchor(&["get", "/.well-known/jwks.json"]),
            "get-well-known-jwks-json"
        );
    }

    #[test]
    fn operations_are_grouped_by_their_tag_in_the_tags_order() {
        let doc = json!({
            "info": {"title": "T", "version": "1"},
            "tags": [{"name": "b", "description": "Bee"}, {"name": "a"}],
            "paths": {
                "/x": {"get": {"tags": ["a"], "summary": "X", "responses": {}}},
                "/y": {"post": {"tags": ["b"], "summary": "Y <b>", "responses": {
                    "200": {"description": "ok", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Thing"}}}}}}},
            },
            "components": {"schemas": {"Thing": {"type": "object"}}},
        });
        let html = render(&doc, &Site::default()).unwrap();
        let b = html.find("id=\"section-b\"").unwrap();
        let a = html.find("id=\"section-a\"").unwrap();
        assert!(b < a, "the tags' order");
        assert!(html.contains("Y &#60;b&#62;"), "escaped");
        assert!(html.contains("href=\"#schema-Thing\""));
        assert!(html.contains("id=\"schema-Thing\""));
    }
}
