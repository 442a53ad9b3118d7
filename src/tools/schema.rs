//! Compact tool schemas: what `tools/list` sends costs every conversation
//! context, so the schemas schemars writes are rewritten once, at start, into
//! the smallest form that still says the same to a client.
//!
//! Both schemas: `$defs` are inlined where they are used (our types are not
//! recursive; a recursive one keeps its `$ref`), one-of-consts enums become a
//! plain `enum`, and `$schema` (2020-12 is MCP's default), `format` and
//! `title` go. Input schemas keep every constraint a client validates with
//! (`required`, `enum`, `minimum`/`maximum`, `additionalProperties`) and
//! every field's description; an optional field is just its type, without
//! schemars' `"default": null` and `null` in the type, except where null has
//! a meaning (see [`null_clears`]). Output schemas are for validating and
//! reading `structuredContent`: they keep every field name, nested object,
//! array, enum and number or boolean type, and drop descriptions (the field
//! names and the tool's description say it), `required` (every field is
//! always written), defaults, and the type of plain string fields, which
//! are most of them (ids, names, timestamps).

use rmcp::model::JsonObject;
use serde_json::{Map, Value};

/// The key [`null_clears`] sets; compaction removes it.
const NULL_CLEARS: &str = "x-null-clears";

/// A schemars field transform, `#[schemars(transform = null_clears)]`, for an
/// argument where `null` means "clear it" (a double option): its compacted
/// schema keeps `null` in the type.
pub fn null_clears(schema: &mut schemars::Schema) {
    schema.insert(NULL_CLEARS.to_owned(), Value::Bool(true));
}

/// What a schema is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Input,
    Output,
}

/// The compact form of a tool's input schema.
pub fn compact_input(schema: &JsonObject) -> JsonObject {
    compact(schema, Side::Input)
}

/// The compact form of a tool's output schema.
pub fn compact_output(schema: &JsonObject) -> JsonObject {
    compact(schema, Side::Output)
}

fn compact(schema: &JsonObject, side: Side) -> JsonObject {
    let mut root = schema.clone();
    let defs = match root.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    root.remove("$schema");
    let mut kept = Map::new();
    let mut walker = Walker {
        defs: &defs,
        side,
        expanding: Vec::new(),
        kept: &mut kept,
    };
    let mut value = Value::Object(root);
    walker.walk(&mut value);
    let Value::Object(mut root) = value else {
        return JsonObject::new();
    };
    if side == Side::Output {
        share_child_entity(&mut root, &mut kept);
    }
    if !kept.is_empty() {
        root.insert("$defs".to_owned(), Value::Object(kept));
    }
    root
}

/// An entity with a list of its own kind (a task and its subtasks): the
/// list's item schema is written once, in `$defs`, and the entity is that
/// schema (`allOf`) plus its own extra fields.
fn share_child_entity(root: &mut JsonObject, defs: &mut Map<String, Value>) {
    let Some(Value::Object(properties)) = root.get("properties") else {
        return;
    };
    let child = properties.iter().find_map(|(name, property)| {
        let item = property.get("items")?;
        let fields = item.get("properties")?.as_object()?;
        let same = fields.len() >= 4
            && fields
                .iter()
                .all(|(field, schema)| properties.get(field) == Some(schema));
        same.then(|| {
            (
                name.clone(),
                item.clone(),
                fields.keys().cloned().collect::<Vec<_>>(),
            )
        })
    });
    let Some((list, item, shared)) = child else {
        return;
    };
    let name = list.strip_suffix('s').unwrap_or(&list).to_owned();
    let reference = serde_json::json!({ "$ref": format!("#/$defs/{name}") });
    if let Some(Value::Object(properties)) = root.get_mut("properties") {
        properties.retain(|field, _| !shared.contains(field));
        if let Some(Value::Object(list)) = properties.get_mut(&list) {
            list.insert("items".to_owned(), reference.clone());
        }
    }
    root.insert("allOf".to_owned(), Value::Array(vec![reference]));
    defs.insert(name, item);
}

struct Walker<'a> {
    defs: &'a Map<String, Value>,
    side: Side,
    /// The definitions being inlined, outermost first (to stop recursion).
    expanding: Vec<String>,
    /// Definitions that stay as `$defs` because they are recursive.
    kept: &'a mut Map<String, Value>,
}

impl Walker<'_> {
    /// Rewrites one schema in place.
    fn walk(&mut self, value: &mut Value) {
        let Value::Object(schema) = value else {
            if let Value::Array(items) = value {
                items.iter_mut().for_each(|item| self.walk(item));
            }
            return;
        };
        // An inlined definition is walked already; walking it again would
        // expand a recursive one forever.
        let inlined = self.inline_ref(schema);
        schema.remove("format");
        schema.remove("title");
        if let Some(Value::String(text)) = schema.get_mut("description") {
            *text = unwrapped(text);
        }
        collapse_enum(schema);
        if self.side == Side::Output {
            for key in ["description", "required", "default", "minimum", "maximum"] {
                schema.remove(key);
            }
            if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                schema.remove("additionalProperties");
            }
        }
        for (key, child) in schema.iter_mut().filter(|_| !inlined) {
            match key.as_str() {
                "properties" | "$defs" => {
                    if let Value::Object(fields) = child {
                        fields.values_mut().for_each(|field| self.walk(field));
                    }
                }
                "items"
                | "additionalProperties"
                | "anyOf"
                | "oneOf"
                | "allOf"
                | "not"
                | "prefixItems" => self.walk(child),
                _ => {}
            }
        }
        match self.side {
            Side::Input => optional_fields_without_null(schema),
            Side::Output => {
                untyped_strings(schema);
                // An enum's values say their type.
                if schema.contains_key("enum") {
                    schema.remove("type");
                }
            }
        }
    }

    /// Replaces `{"$ref": "#/$defs/Name", ...}` by the definition, merged
    /// with the keys beside the `$ref`. Says whether it did.
    fn inline_ref(&mut self, schema: &mut JsonObject) -> bool {
        let Some(Value::String(reference)) = schema.get("$ref") else {
            return false;
        };
        let Some(name) = reference.strip_prefix("#/$defs/").map(str::to_owned) else {
            return false;
        };
        let Some(Value::Object(def)) = self.defs.get(&name) else {
            return false;
        };
        if self.expanding.contains(&name) {
            // Recursive: keep the reference and the (compacted) definition.
            if !self.kept.contains_key(&name) {
                self.kept.insert(name.clone(), Value::Null);
                let mut copy = Value::Object(def.clone());
                self.walk(&mut copy);
                self.kept.insert(name, copy);
            }
            return false;
        }
        schema.remove("$ref");
        // A type's doc comment is for readers of the code; the field that
        // uses it has its own description.
        let mut def = def.clone();
        def.remove("description");
        let mut inlined = Value::Object(def);
        self.expanding.push(name);
        self.walk(&mut inlined);
        self.expanding.pop();
        if let Value::Object(inlined) = inlined {
            for (key, value) in inlined {
                schema.entry(key).or_insert(value);
            }
        }
        true
    }
}

/// A doc comment's text as one line per paragraph (schemars keeps the line
/// breaks of the source).
fn unwrapped(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .split('\n')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `{"oneOf": [{"const": "a"}, {"enum": ["b", "c"]}, ...]}` of strings (how
/// schemars writes an enum whose variants have doc comments) becomes
/// `{"type": "string", "enum": ["a", "b", "c"]}`.
fn collapse_enum(schema: &mut JsonObject) {
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(options)) = schema.get(key) else {
            continue;
        };
        let mut values = Vec::new();
        for option in options {
            let Value::Object(option) = option else {
                return;
            };
            if option.get("type").and_then(Value::as_str) != Some("string") {
                return;
            }
            match (option.get("const"), option.get("enum")) {
                (Some(value), None) => values.push(value.clone()),
                (None, Some(Value::Array(list))) => values.extend(list.iter().cloned()),
                _ => return,
            }
        }
        schema.remove(key);
        schema.insert("type".to_owned(), Value::String("string".to_owned()));
        schema.insert("enum".to_owned(), Value::Array(values));
    }
}

/// An optional input field is its type: schemars' `"default": null` and the
/// `null` it adds to the type (or the `anyOf` with `{"type": "null"}`) go,
/// unless the field is marked with [`null_clears`].
fn optional_fields_without_null(schema: &mut JsonObject) {
    let required: Vec<String> = match schema.get("required") {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        let Value::Object(property) = property else {
            continue;
        };
        if property.remove(NULL_CLEARS).is_some() {
            property.remove("default");
            admit_null(property);
            continue;
        }
        if required.contains(name) || property.get("default") != Some(&Value::Null) {
            continue;
        }
        property.remove("default");
        match property.get_mut("type") {
            Some(Value::Array(types)) => {
                types.retain(|t| t != "null");
                if types.len() == 1
                    && let Some(only) = types.pop()
                {
                    property.insert("type".to_owned(), only);
                }
            }
            _ => {
                if let Some(Value::Array(options)) = property.get_mut("anyOf") {
                    options.retain(|o| o.get("type").and_then(Value::as_str) != Some("null"));
                }
            }
        }
        // An `anyOf` left with one option is that option.
        if let Some(Value::Array(options)) = property.get("anyOf")
            && options.len() == 1
            && let Some(Value::Array(mut options)) = property.remove("anyOf")
            && let Some(Value::Object(only)) = options.pop()
        {
            for (k, v) in only {
                property.entry(k).or_insert(v);
            }
        }
    }
}

/// Makes a field's type admit `null` (schemars leaves it out of a required
/// `Option`).
fn admit_null(property: &mut JsonObject) {
    let null = Value::String("null".to_owned());
    match property.get_mut("type") {
        Some(Value::Array(types)) if !types.contains(&null) => types.push(null),
        Some(single @ Value::String(_)) => {
            let first = single.take();
            *single = Value::Array(vec![first, null]);
        }
        _ => {}
    }
}

/// In an output schema, a field that is just a string (or a string or null)
/// says nothing its name does not: it is written as `{}`.
fn untyped_strings(schema: &mut JsonObject) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for property in properties.values_mut() {
        let Value::Object(fields) = property else {
            continue;
        };
        let plain = fields.len() == 1
            && match fields.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(types)) => types.iter().all(|t| t == "string" || t == "null"),
                _ => false,
            };
        if plain {
            fields.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => panic!("object"),
        }
    }

    #[test]
    fn input_keeps_constraints_and_drops_null_noise() {
        let schema = object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "format": "uuid", "description": "The id."},
                "limit": {"type": ["integer", "null"], "format": "uint32", "minimum": 0,
                          "default": null, "description": "Page\nsize."},
                "status": {"anyOf": [{"$ref": "#/$defs/Status"}, {"type": "null"}],
                           "default": null, "description": "Only these."},
                "parent": {"type": ["string", "null"], "default": null,
                           "x-null-clears": true, "description": "null clears it."}
            },
            "$defs": {"Status": {"description": "A status.", "oneOf": [
                {"const": "a", "type": "string", "description": "A."},
                {"enum": ["b", "c"], "type": "string"}
            ]}}
        }));
        assert_eq!(
            Value::Object(compact_input(&schema)),
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["id"],
                "properties": {
                    "id": {"type": "string", "description": "The id."},
                    "limit": {"type": "integer", "minimum": 0, "description": "Page size."},
                    "status": {"type": "string", "enum": ["a", "b", "c"], "description": "Only these."},
                    "parent": {"type": ["string", "null"], "description": "null clears it."}
                }
            })
        );
    }

    #[test]
    fn output_keeps_structure_and_drops_words() {
        let schema = object(json!({
            "type": "object",
            "description": "A page.",
            "required": ["items", "total", "next"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "total": {"type": "integer", "format": "int64", "description": "All."},
                "next": {"type": ["string", "null"], "description": "The cursor."}
            },
            "$defs": {"Item": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string"},
                "done": {"type": "boolean", "default": false}
            }}}
        }));
        assert_eq!(
            Value::Object(compact_output(&schema)),
            json!({
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {}, "done": {"type": "boolean"}
                    }}},
                    "total": {"type": "integer"},
                    "next": {}
                }
            })
        );
    }

    #[test]
    fn an_entity_and_a_list_of_its_kind_share_one_schema() {
        let task = json!({"type": "object", "properties": {
            "id": {"type": "string"}, "title": {"type": "string"},
            "position": {"type": "integer"}, "status": {"enum": ["todo", "done"]}
        }});
        let mut detail = task.clone();
        detail["properties"]["subtasks"] = json!({"type": "array", "items": task});
        detail["properties"]["subtask_count"] = json!({"type": "integer"});
        assert_eq!(
            Value::Object(compact_output(&object(detail))),
            json!({
                "type": "object",
                "allOf": [{"$ref": "#/$defs/subtask"}],
                "properties": {
                    "subtasks": {"type": "array", "items": {"$ref": "#/$defs/subtask"}},
                    "subtask_count": {"type": "integer"}
                },
                "$defs": {"subtask": {"type": "object", "properties": {
                    "id": {}, "title": {}, "position": {"type": "integer"},
                    "status": {"enum": ["todo", "done"]}
                }}}
            })
        );
    }

    #[test]
    fn a_recursive_definition_keeps_its_reference() {
        let schema = object(json!({
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
            }}}
        }));
        let compacted = Value::Object(compact_output(&schema));
        assert_eq!(
            compacted["properties"]["root"]["properties"]["children"]["items"],
            json!({"$ref": "#/$defs/Node"})
        );
        assert!(compacted["$defs"]["Node"].is_object(), "{compacted}");
    }
}
