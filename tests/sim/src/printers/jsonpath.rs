//! The JSONPath of CRD printer columns, read and evaluated as the API server does
//! (`k8s.io/client-go/util/jsonpath`, with missing keys allowed).
//!
//! Supported: `$` and `@` (ignored as the parser does), `.field` (`\.` escapes a dot),
//! `.*`, `..field` (recursive descent), `['key']`, `[i]`, `[-i]`, `[a:b:c]`, `[*]`, unions
//! `[0,2]` / `['a','b']`, filters `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `>`, `<=`, `>=`
//! against quoted strings, numbers, `true`/`false` or another `@` path, existence filters
//! `[?(@.name)]`, and quoted text. Not supported: `range`/`end` and other identifiers, and
//! text outside the one expression a column holds.
//!
//! The evaluation keeps the library's quirks that show in Tables: a field of a list gives
//! nothing, `[*]` of a map and an index out of bounds are errors (the cell stays empty),
//! comparisons between different kinds (a string and a number) are errors.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

/// Errors reading or evaluating a JSONPath.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    /// The expression does not parse.
    #[error("invalid JSONPath {path:?}: {reason}")]
    Parse {
        /// The expression.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Evaluation failed (index out of bounds, not a list, incomparable values...).
    #[error("{0}")]
    Eval(String),
}

/// Bounds of an array selection: `[start:end:step]`, with the derived end of `[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slice {
    start: Option<i64>,
    end: Option<i64>,
    /// `end` was derived from a single index (`[i]` is `[i:i+1]`).
    derived: bool,
    step: Option<i64>,
}

/// A filter: `left op right`, or `left` alone for existence.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Vec<Node>,
    op: Option<String>,
    right: Vec<Node>,
}

/// One step of an expression.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Field(String),
    Wildcard,
    Recursive,
    Array(Slice),
    Union(Vec<Vec<Node>>),
    Filter(Box<Filter>),
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A parsed JSONPath expression (the text of one printer column).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

fn is_terminator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
    )
}

/// A cursor over the expression text.
struct Parser<'a> {
    path: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(path: &'a str, text: &str) -> Self {
        Self {
            path,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn err(&self, reason: impl Into<String>) -> JsonPathError {
        JsonPathError::Parse {
            path: self.path.to_string(),
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn parse(mut self) -> Result<Vec<Node>, JsonPathError> {
        let mut nodes = Vec::new();
        while let Some(c) = self.peek() {
            if self.starts_with("[?(") {
                self.pos += 3;
                nodes.push(self.filter()?);
                continue;
            }
            if self.starts_with("..") {
                if nodes.last() == Some(&Node::Recursive) {
                    return Err(self.err("invalid multiple recursive descent"));
                }
                self.pos += 2;
                nodes.push(Node::Recursive);
                if self.peek().is_some_and(|c| c == '_' || c.is_alphanumeric()) {
                    nodes.push(self.field());
                }
                continue;
            }
            self.pos += 1;
            match c {
                ' ' | '@' | '$' => {}
                '[' => nodes.extend(self.array()?),
                '"' | '\'' => nodes.push(Node::Text(self.quoted(c)?)),
                '.' => nodes.push(self.field()),
                '+' | '-' | '0'..='9' => {
                    self.pos -= 1;
                    nodes.push(self.number()?);
                }
                c if c == '_' || c.is_alphanumeric() => {
                    self.pos -= 1;
                    let start = self.pos;
                    while self.peek().is_some_and(|c| !is_terminator(c)) {
                        self.pos += 1;
                    }
                    let word: String = self.chars[start..self.pos].iter().collect();
                    match word.as_str() {
                        "true" => nodes.push(Node::Bool(true)),
                        "false" => nodes.push(Node::Bool(false)),
                        other => {
                            return Err(self.err(format!("unsupported identifier {other:?}")));
                        }
                    }
                }
                other => {
                    return Err(self.err(format!("unrecognized character {other:?}")));
                }
            }
        }
        Ok(nodes)
    }

    /// A field name after `.`: up to the next unescaped terminator, backslashes dropped.
    fn field(&mut self) -> Node {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                self.pos += 1;
                if let Some(next) = self.peek() {
                    name.push(next);
                    self.pos += 1;
                }
                continue;
            }
            if is_terminator(c) {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        if name == "*" {
            Node::Wildcard
        } else {
            Node::Field(name)
        }
    }

    fn number(&mut self) -> Result<Node, JsonPathError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c == '.' || c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        text.parse::<f64>()
            .map(Node::Float)
            .map_err(|_| self.err(format!("cannot parse number {text}")))
    }

    /// A quoted string (the opening quote consumed), with backslash escapes.
    fn quoted(&mut self, quote: char) -> Result<String, JsonPathError> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => return Err(self.err("unterminated quoted string")),
                Some('\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                    self.pos += 1;
                    out.push(match c {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// The inside of `[...]` (the `[` consumed): `*`, a union, a `'key'` (read as `.key`, so
    /// its dots split it as the library does) or a slice.
    fn array(&mut self) -> Result<Vec<Node>, JsonPathError> {
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some('\n') => return Err(self.err("unterminated array")),
                Some(']') => break,
                Some(_) => self.pos += 1,
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        self.pos += 1;
        let text = if text == "*" { ":".to_string() } else { text };
        if text.contains(',') {
            let mut union = Vec::new();
            for part in text.split(',') {
                let nodes = Parser::new(self.path, &format!("[{}]", part.trim())).parse()?;
                union.push(nodes);
            }
            return Ok(vec![Node::Union(union)]);
        }
        if text.len() >= 2
            && text.starts_with('\'')
            && text.ends_with('\'')
            && !text[1..text.len() - 1].contains('\'')
        {
            let key = &text[1..text.len() - 1];
            return Parser::new(self.path, &format!(".{key}")).parse();
        }
        Ok(vec![self.slice(&text)?])
    }

    /// `a`, `a:b`, `a:b:c` with any part empty.
    fn slice(&self, text: &str) -> Result<Node, JsonPathError> {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() > 3 {
            return Err(self.err(format!("invalid array index {text}")));
        }
        let num = |s: &str| -> Result<Option<i64>, JsonPathError> {
            if s.is_empty() {
                return Ok(None);
            }
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(self.err(format!("invalid array index {text}")));
            }
            s.parse::<i64>()
                .map(Some)
                .map_err(|_| self.err(format!("array index {s} is not a number")))
        };
        let start = num(parts[0])?;
        let (end, derived) = match parts.get(1) {
            Some(e) => (num(e)?, false),
            None => (Some(start.unwrap_or(0) + 1), true),
        };
        let step = match parts.get(2) {
            Some(s) => num(s)?,
            None => None,
        };
        Ok(Node::Array(Slice {
            start,
            end,
            derived,
            step,
        }))
    }

    /// The inside of `[?(...)]` (the prefix consumed).
    fn filter(&mut self) -> Result<Node, JsonPathError> {
        let start = self.pos;
        let mut quote: Option<char> = None;
        let mut closed = false;
        loop {
            let c = self
                .peek()
                .filter(|c| *c != '\n')
                .ok_or_else(|| self.err("unterminated filter"))?;
            self.pos += 1;
            match c {
                '"' | '\'' if quote.is_none() && !closed => quote = Some(c),
                c if Some(c) == quote && !closed && self.chars[self.pos - 2] != '\\' => {
                    closed = true;
                }
                ')' if quote.is_none() || closed => break,
                _ => {}
            }
        }
        if self.peek() != Some(']') {
            return Err(self.err("unclosed array expect ]"));
        }
        self.pos += 1;
        let text: String = self.chars[start..self.pos - 2].iter().collect();
        let op_at = text.find(['!', '<', '>', '=']);
        let filter = match op_at {
            Some(i) if i > 0 => {
                let op_len = text[i..]
                    .find(|c: char| !matches!(c, '!' | '<' | '>' | '='))
                    .unwrap_or(text.len() - i);
                let right = &text[i + op_len..];
                if right.is_empty() {
                    return Err(self.err(format!("invalid filter {text}")));
                }
                Filter {
                    left: Parser::new(self.path, &text[..i]).parse()?,
                    op: Some(text[i..i + op_len].to_string()),
                    right: Parser::new(self.path, right).parse()?,
                }
            }
            _ => Filter {
                left: Parser::new(self.path, &text).parse()?,
                op: None,
                right: Vec::new(),
            },
        };
        Ok(Node::Filter(Box::new(filter)))
    }
}

type Results<'a> = Vec<Cow<'a, Value>>;

/// The value a result borrows from the evaluated data, if it does.
fn borrowed<'a>(v: &Cow<'a, Value>) -> Option<&'a Value> {
    match v {
        Cow::Borrowed(b) => Some(*b),
        Cow::Owned(_) => None,
    }
}

fn eval_err(msg: impl Into<String>) -> JsonPathError {
    JsonPathError::Eval(msg.into())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "map",
    }
}

/// A comparable scalar, as Go's template comparisons see a decoded JSON value.
enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
}

fn scalar(v: &Value) -> Result<Scalar<'_>, JsonPathError> {
    match v {
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        Value::String(s) => Ok(Scalar::Str(s)),
        Value::Number(n) => Ok(if let Some(i) = n.as_i64() {
            Scalar::Int(i)
        } else if let Some(u) = n.as_u64() {
            Scalar::Uint(u)
        } else {
            Scalar::Float(n.as_f64().unwrap_or(0.0))
        }),
        other => Err(eval_err(format!(
            "invalid type for comparison: {}",
            kind_name(other)
        ))),
    }
}

/// Orders two values of the same kind; `None` for bools (equality only).
fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, JsonPathError> {
    let bad = || eval_err("incompatible types for comparison");
    Ok(match (scalar(a)?, scalar(b)?) {
        (Scalar::Bool(x), Scalar::Bool(y)) => {
            return if x == y {
                Ok(Some(Ordering::Equal))
            } else {
                Ok(None)
            };
        }
        (Scalar::Int(x), Scalar::Int(y)) => Some(x.cmp(&y)),
        (Scalar::Uint(x), Scalar::Uint(y)) => Some(x.cmp(&y)),
        (Scalar::Int(x), Scalar::Uint(y)) => Some(i128::from(x).cmp(&i128::from(y))),
        (Scalar::Uint(x), Scalar::Int(y)) => Some(i128::from(x).cmp(&i128::from(y))),
        (Scalar::Float(x), Scalar::Float(y)) => x.partial_cmp(&y),
        (Scalar::Str(x), Scalar::Str(y)) => Some(x.cmp(y)),
        _ => return Err(bad()),
    })
}

fn passes(op: &str, a: &Value, b: &Value) -> Result<bool, JsonPathError> {
    let is_bool = matches!(a, Value::Bool(_)) && matches!(b, Value::Bool(_));
    let ord = compare(a, b)?;
    let ordered = |f: fn(Ordering) -> bool| -> Result<bool, JsonPathError> {
        if is_bool {
            return Err(eval_err("invalid type for comparison: bool"));
        }
        Ok(ord.is_some_and(f))
    };
    match op {
        "==" => Ok(ord == Some(Ordering::Equal)),
        "!=" => Ok(ord != Some(Ordering::Equal)),
        "<" => ordered(Ordering::is_lt),
        ">" => ordered(Ordering::is_gt),
        "<=" => ordered(Ordering::is_le),
        ">=" => ordered(Ordering::is_ge),
        other => Err(eval_err(format!("unrecognized filter operator {other}"))),
    }
}

/// The children a recursive descent visits: map values and list items.
fn children(v: &Value) -> Vec<&Value> {
    match v {
        Value::Object(m) => m.values().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => Vec::new(),
    }
}

fn select<'a>(input: &[Cow<'a, Value>], s: &Slice) -> Result<Results<'a>, JsonPathError> {
    let mut out = Vec::new();
    for value in input {
        let items: &[Value] = match value.as_ref() {
            Value::Null => continue,
            Value::Array(a) => a,
            other => {
                return Err(eval_err(format!(
                    "{} is not array or slice",
                    kind_name(other)
                )));
            }
        };
        let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let mut start = s.start.unwrap_or(0);
        if start < 0 {
            start += len;
        }
        let mut end = s.end.unwrap_or(len);
        if end < 0 || (end == 0 && s.derived) {
            end += len;
        }
        if end == start {
            return Ok(out);
        }
        if start >= len || start < 0 {
            return Err(eval_err(format!(
                "array index out of bounds: index {start}, length {len}"
            )));
        }
        if end > len || end < 0 {
            return Err(eval_err(format!(
                "array index out of bounds: index {}, length {len}",
                end - 1
            )));
        }
        if start > end {
            return Err(eval_err(format!(
                "starting index {start} is greater than ending index {end}"
            )));
        }
        let step = match s.step {
            Some(st) if st <= 0 => return Err(eval_err("step must be > 0")),
            Some(st) => usize::try_from(st).unwrap_or(1),
            None => 1,
        };
        let (from, to) = (
            usize::try_from(start).unwrap_or(0),
            usize::try_from(end).unwrap_or(0),
        );
        match borrowed(value) {
            Some(Value::Array(a)) => {
                out.extend(a[from..to].iter().step_by(step).map(Cow::Borrowed));
            }
            _ => out.extend(
                items[from..to]
                    .iter()
                    .step_by(step)
                    .cloned()
                    .map(Cow::Owned),
            ),
        }
    }
    Ok(out)
}

fn eval_list<'a>(nodes: &[Node], input: Results<'a>) -> Result<Results<'a>, JsonPathError> {
    let mut cur = input;
    for node in nodes {
        cur = eval_node(node, &cur)?;
    }
    Ok(cur)
}

fn eval_node<'a>(node: &Node, input: &[Cow<'a, Value>]) -> Result<Results<'a>, JsonPathError> {
    let mut out: Results<'a> = Vec::new();
    match node {
        Node::Field(name) => {
            for v in input {
                match borrowed(v) {
                    Some(Value::Object(m)) => out.extend(m.get(name.as_str()).map(Cow::Borrowed)),
                    Some(_) => {}
                    None => out.extend(
                        v.as_ref()
                            .get(name.as_str())
                            .filter(|_| v.is_object())
                            .cloned()
                            .map(Cow::Owned),
                    ),
                }
            }
        }
        Node::Wildcard => {
            for v in input {
                match borrowed(v) {
                    Some(b) => out.extend(children(b).into_iter().map(Cow::Borrowed)),
                    None => out.extend(children(v).into_iter().cloned().map(Cow::Owned)),
                }
            }
        }
        Node::Recursive => {
            fn walk<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
                let kids = children(v);
                if !kids.is_empty() {
                    out.push(v);
                    for k in kids {
                        walk(k, out);
                    }
                }
            }
            for v in input {
                match borrowed(v) {
                    Some(b) => {
                        let mut found = Vec::new();
                        walk(b, &mut found);
                        out.extend(found.into_iter().map(Cow::Borrowed));
                    }
                    None => {
                        let mut found = Vec::new();
                        walk(v, &mut found);
                        out.extend(found.into_iter().cloned().map(Cow::Owned));
                    }
                }
            }
        }
        Node::Array(s) => return select(input, s),
        Node::Union(parts) => {
            for part in parts {
                out.extend(eval_list(part, input.to_vec())?);
            }
        }
        Node::Filter(f) => {
            for v in input {
                let items: Vec<Cow<'a, Value>> = match (borrowed(v), v.as_ref()) {
                    (Some(Value::Array(a)), _) => a.iter().map(Cow::Borrowed).collect(),
                    (None, Value::Array(a)) => a.iter().cloned().map(Cow::Owned).collect(),
                    (_, other) => {
                        return Err(eval_err(format!(
                            "{} is not array or slice and cannot be filtered",
                            kind_name(other)
                        )));
                    }
                };
                for item in items {
                    let lefts = eval_list(&f.left, vec![item.clone()]);
                    let Some(op) = &f.op else {
                        if lefts.is_ok_and(|l| !l.is_empty()) {
                            out.push(item);
                        }
                        continue;
                    };
                    let lefts = lefts?;
                    let left = match lefts.as_slice() {
                        [] => continue,
                        [one] => one.clone(),
                        _ => return Err(eval_err("can only compare one element at a time")),
                    };
                    let rights = eval_list(&f.right, vec![item.clone()])?;
                    let right = match rights.as_slice() {
                        [] => continue,
                        [one] => one.clone(),
                        _ => return Err(eval_err("can only compare one element at a time")),
                    };
                    if passes(op, &left, &right)? {
                        out.push(item);
                    }
                }
            }
        }
        Node::Text(t) => out.push(Cow::Owned(Value::String(t.clone()))),
        Node::Int(i) => out.extend(input.iter().map(|_| Cow::Owned(Value::from(*i)))),
        Node::Float(f) => out.extend(input.iter().map(|_| Cow::Owned(Value::from(*f)))),
        Node::Bool(b) => out.extend(input.iter().map(|_| Cow::Owned(Value::Bool(*b)))),
    }
    Ok(out)
}

impl JsonPath {
    /// Reads the expression of a printer column (`.spec.type`).
    pub fn parse(path: &str) -> Result<Self, JsonPathError> {
        let nodes = Parser::new(path, path).parse()?;
        Ok(Self { nodes })
    }

    /// Every value the expression selects in `data`, in order; missing keys select nothing.
    pub fn find<'a>(&self, data: &'a Value) -> Result<Vec<Cow<'a, Value>>, JsonPathError> {
        eval_list(&self.nodes, vec![Cow::Borrowed(data)])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(path: &str, data: &Value) -> Result<Vec<Value>, JsonPathError> {
        JsonPath::parse(path)?
            .find(data)
            .map(|r| r.into_iter().map(Cow::into_owned).collect())
    }

    fn obj() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"type": "ClusterSetIP", "ips": ["10.0.0.1", "10.0.0.2"],
                "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
                "replicas": 3, "weight": 1.5, "paused": false, "nothing": null},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "False"}]}
        })
    }

    #[test]
    fn fields_and_missing_keys() {
        let o = obj();
        assert_eq!(find(".spec.type", &o).unwrap(), vec![json!("ClusterSetIP")]);
        assert_eq!(find("$.spec.replicas", &o).unwrap(), vec![json!(3)]);
        assert_eq!(
            find(".spec.missing.deeper", &o).unwrap(),
            Vec::<Value>::new()
        );
        assert_eq!(find(".spec.nothing", &o).unwrap(), vec![Value::Null]);
        // A field of a list selects nothing (no error).
        assert_eq!(find(".spec.ports.port", &o).unwrap(), Vec::<Value>::new());
        assert_eq!(
            find(r".metadata.labels.app\.kubernetes\.io/name", &o).unwrap(),
            vec![json!("web")]
        );
        assert_eq!(
            find(".metadata.labels['app.kubernetes.io/name']", &o).unwrap(),
            Vec::<Value>::new(),
            "a quoted key is read as a field path, so its dots split it"
        );
        assert_eq!(
            find(".spec['type']", &o).unwrap(),
            vec![json!("ClusterSetIP")]
        );
    }

    #[test]
    fn indexes_slices_and_wildcards() {
        let o = obj();
        assert_eq!(find(".spec.ips[0]", &o).unwrap(), vec![json!("10.0.0.1")]);
        assert_eq!(find(".spec.ips[-1]", &o).unwrap(), vec![json!("10.0.0.2")]);
        assert_eq!(find(".spec.ips[*]", &o).unwrap().len(), 2);
        assert_eq!(find(".spec.ips[0:1]", &o).unwrap(), vec![json!("10.0.0.1")]);
        assert_eq!(find(".spec.ips[::2]", &o).unwrap(), vec![json!("10.0.0.1")]);
        assert_eq!(
            find(".spec.ports[*].port", &o).unwrap(),
            vec![json!(80), json!(443)]
        );
        assert_eq!(
            find(".spec.ports[1,0].name", &o).unwrap(),
            vec![json!("https"), json!("http")]
        );
        assert_eq!(find(".metadata.*", &o).unwrap().len(), 2);
        assert!(matches!(
            find(".spec.ips[2]", &o),
            Err(JsonPathError::Eval(_))
        ));
        assert!(matches!(find(".spec[*]", &o), Err(JsonPathError::Eval(_))));
        assert_eq!(find(".spec.ips[1:1]", &o).unwrap(), Vec::<Value>::new());
        // An index into something missing selects nothing.
        assert_eq!(find(".spec.absent[0]", &o).unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn filters_compare_like_go_templates() {
        let o = obj();
        assert_eq!(
            find(r#".status.conditions[?(@.type=="Ready")].status"#, &o).unwrap(),
            vec![json!("True")]
        );
        assert_eq!(
            find(".status.conditions[?(@.type != 'Ready')].type", &o).unwrap(),
            vec![json!("Synced")]
        );
        assert_eq!(
            find(".spec.ports[?(@.port>100)].name", &o).unwrap(),
            vec![json!("https")]
        );
        assert_eq!(
            find(".spec.ports[?(@.name)].port", &o).unwrap(),
            vec![json!(80), json!(443)]
        );
        assert_eq!(
            find(".status.conditions[?(@.reason)]", &o).unwrap(),
            Vec::<Value>::new()
        );
        // A string against a number is an error, as in the API server.
        assert!(find(".spec.ports[?(@.name==80)]", &o).is_err());
        assert!(find(".spec.type[?(@.x)]", &o).is_err());
    }

    #[test]
    fn recursive_descent_finds_nested_fields() {
        let o = obj();
        assert_eq!(find("..port", &o).unwrap(), vec![json!(80), json!(443)]);
        assert_eq!(find("..name", &o).unwrap()[0], json!("web"));
    }

    #[test]
    fn parse_errors() {
        for bad in [
            ".spec[",
            ".spec[?(@.a==1)",
            ".spec[x]",
            ".a....b",
            "{range .items}",
            ".spec.ips[1:2:3:4]",
        ] {
            assert!(
                matches!(JsonPath::parse(bad), Err(JsonPathError::Parse { .. })),
                "{bad} should not parse"
            );
        }
    }
}
