//! Per-file summaries from a tree-sitter parse of one C file.
//!
//! The summary is independent of the rules: it records every function with its parameters, calls,
//! assignments, returns, field stores and designated initialisers, and the file's operation tables.
//! Names are resolved later by `analysis`. A summary is cached by the content hash of the file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tree_sitter::{Node, Parser};

/// An expression reduced to what data flow needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Expr {
    /// Identifiers outside any call's argument list, plus `base->field` pseudo-roots for field reads.
    pub roots: Vec<String>,
    /// Calls inside the expression: callee (a name, or `->field` for a call through a pointer) and
    /// all roots of its arguments.
    pub calls: Vec<(String, Vec<String>)>,
    /// Source text, shortened (call arguments only; empty elsewhere to keep the cache small).
    #[serde(default)]
    pub text: String,
}

/// A call site.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Call {
    /// `name` for a direct call, `->field` for a call through an ops table or function pointer.
    pub callee: String,
    pub line: u32,
    pub args: Vec<Expr>,
    /// Inside an `if`, `?:` or `switch` branch.
    pub conditional: bool,
}

/// `lhs = rhs` (also `type lhs = rhs;`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assign {
    pub lhs: String,
    pub rhs: Expr,
    pub line: u32,
}

/// A store into a struct: `base->field = value`, or one designated initialiser group
/// `(struct ty){ .field = value, ... }` assigned to `base`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Store {
    pub base: String,
    /// Struct type when known (compound literal or declaration).
    pub ty: Option<String>,
    pub fields: Vec<(String, Expr)>,
    pub line: u32,
}

/// A function definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Func {
    pub name: String,
    pub line: u32,
    pub end_line: u32,
    pub params: Vec<String>,
    /// Return type name (`struct page *` → `page`).
    pub ret_type: String,
    /// Variable (parameter or local) → type name (`struct x` → `x`).
    pub var_types: BTreeMap<String, String>,
    /// No ERROR or MISSING node inside the definition.
    pub clean: bool,
    pub calls: Vec<Call>,
    pub assigns: Vec<Assign>,
    pub returns: Vec<Expr>,
    pub stores: Vec<Store>,
    /// Upper-case identifiers used (flags such as FOLL_PIN, MSG_SPLICE_PAGES).
    pub consts: Vec<String>,
    /// Variables declared with `*` or `[]` → how many (`struct page **pages` → 2).
    #[serde(default)]
    pub var_ptr: BTreeMap<String, u8>,
}

/// One designated initialiser `.field = target` at file scope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpsEntry {
    /// Struct type of the initialised object when it is the declared object itself.
    pub ty: Option<String>,
    /// Name of the initialised object (the ops table).
    pub var: Option<String>,
    pub field: String,
    pub target: String,
    pub line: u32,
}

/// One parameter of a prototype: its type name (`struct page **` → `page`), how many `*` (or
/// `[]`) it has, and its name (empty in a declaration that names none).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Param {
    pub ty: String,
    pub ptr: u8,
    pub name: String,
}

/// A function prototype at file scope: a declaration or the head of a definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Proto {
    pub name: String,
    pub line: u32,
    pub params: Vec<Param>,
    /// The head of a definition (not only a declaration).
    pub definition: bool,
}

/// A function-like macro `#define name(a, b) body`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Macro {
    pub name: String,
    pub line: u32,
    pub params: Vec<String>,
    /// The body, whitespace collapsed, at most 200 characters.
    pub body: String,
}

/// A part of the file the summary does not describe because its nesting is deeper than
/// [`MAX_DEPTH`]: it degrades to "not understood" (a function of that name is recorded with
/// `clean = false` and no body).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TooDeep {
    pub line: u32,
    /// The function's name, when the part is a function definition.
    pub name: String,
    pub depth: usize,
}

/// Syntax-tree nesting beyond which a top-level item is not walked: the walks below recurse,
/// and a file of ~100,000 nested blocks would overflow any thread's stack. Kernel code nests
/// far less (the deepest function of 6.12 is well under 200 levels).
pub const MAX_DEPTH: usize = 1500;

/// Everything the analysis needs from one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileSummary {
    pub funcs: Vec<Func>,
    pub ops: Vec<OpsEntry>,
    /// The whole file parsed without ERROR or MISSING nodes.
    pub clean: bool,
    /// Function prototypes (declarations and definitions) at file scope.
    #[serde(default)]
    pub protos: Vec<Proto>,
    /// Function-like macros.
    #[serde(default)]
    pub macros: Vec<Macro>,
    /// Top-level items nested too deeply to be walked.
    #[serde(default)]
    pub too_deep: Vec<TooDeep>,
}

/// Kernel idioms that plain C grammars do not know, rewritten byte for byte (same length, so
/// lines and columns stay true): iterator macros `for_each_x(a, b) {` become `while    (a, b) {`,
/// and a few attribute macros become spaces.
pub fn normalise_kernel_c(src: &[u8]) -> Vec<u8> {
    let mut out = src.to_vec();
    let n = out.len();
    let mut i = 0;
    while i < n {
        let c = out[i];
        let start_ok = i == 0 || !is_ident(out[i - 1]);
        if start_ok && (c.is_ascii_alphabetic() || c == b'_') {
            let mut j = i;
            while j < n && is_ident(out[j]) {
                j += 1;
            }
            let word = &src[i..j];
            if let Ok(w) = std::str::from_utf8(word) {
                match word_action(w) {
                    Some(Action::Blank) => out[i..j].fill(b' '),
                    Some(Action::TypeArg(k)) => blank_type_arg(&mut out, j, k),
                    None if j - i >= 5 && is_iterator_macro(w) => {
                        // Only when followed by `( ... )` and then not `;` (a statement head).
                        let mut k = j;
                        while k < n && (out[k] == b' ' || out[k] == b'\t') {
                            k += 1;
                        }
                        if k < n && out[k] == b'(' {
                            if let Some(close) = matching_paren(&out, k) {
                                let mut m = close + 1;
                                while m < n && out[m].is_ascii_whitespace() {
                                    m += 1;
                                }
                                if m < n && out[m] != b';' && out[m] != b')' && out[m] != b',' {
                                    out[i..i + 5].copy_from_slice(b"while");
                                    out[i + 5..j].fill(b' ');
                                }
                            }
                        }
                    }
                    None => {}
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Attribute macros that tree-sitter-c does not know: replaced by spaces.
const BLANK: &[&str] = &[
    "__must_check",
    "__always_inline",
    "__maybe_unused",
    "__init",
    "__exit",
    "__cold",
    "__user",
    "__rcu",
    "__iomem",
    "__percpu",
    "__force",
    "__bitwise",
    "noinline_for_stack",
    "__ref",
    "__weak",
    "__noreturn",
    "asmlinkage",
    "__visible",
    "__latent_entropy",
];

/// Macros that take a type as an argument (index of that argument): the type becomes `0`.
const TYPE_ARG: &[(&str, usize)] = &[
    ("min_t", 0),
    ("max_t", 0),
    ("clamp_t", 0),
    ("container_of", 1),
    ("container_of_const", 1),
    ("list_entry", 1),
    ("list_first_entry", 1),
    ("list_last_entry", 1),
    ("list_first_entry_or_null", 1),
    ("list_last_entry_or_null", 1),
    ("hlist_entry", 1),
    ("hlist_entry_safe", 1),
    ("rb_entry", 1),
    ("rb_entry_safe", 1),
    ("llist_entry", 1),
    ("sizeof_field", 0),
    ("va_arg", 1),
    ("READ_ONCE_TYPE", 0),
];

/// Replace argument `k` of the call whose name ends at `name_end` by `0` and spaces (newlines kept).
fn blank_type_arg(out: &mut [u8], name_end: usize, k: usize) {
    let n = out.len();
    let mut p = name_end;
    while p < n && (out[p] == b' ' || out[p] == b'\t') {
        p += 1;
    }
    if p >= n || out[p] != b'(' {
        return;
    }
    let mut depth = 0usize;
    let mut arg = 0usize;
    let mut start = p + 1;
    for q in p..n.min(p + 2000) {
        match out[q] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    if arg == k {
                        fill_arg(out, start, q);
                    }
                    return;
                }
            }
            b',' if depth == 1 => {
                if arg == k {
                    fill_arg(out, start, q);
                    return;
                }
                arg += 1;
                start = q + 1;
            }
            _ => {}
        }
    }
}

fn fill_arg(out: &mut [u8], start: usize, end: usize) {
    let mut first = true;
    for b in &mut out[start..end] {
        if b.is_ascii_whitespace() {
            continue;
        }
        *b = if first { b'0' } else { b' ' };
        first = false;
    }
}

#[derive(Clone, Copy)]
enum Action {
    Blank,
    TypeArg(usize),
}

fn word_action(w: &str) -> Option<Action> {
    static MAP: std::sync::OnceLock<std::collections::HashMap<&'static str, Action>> =
        std::sync::OnceLock::new();
    let map = MAP.get_or_init(|| {
        let mut m = std::collections::HashMap::new();
        for b in BLANK {
            m.insert(*b, Action::Blank);
        }
        for (t, k) in TYPE_ARG {
            m.insert(*t, Action::TypeArg(*k));
        }
        m
    });
    map.get(w).copied()
}

fn is_iterator_macro(w: &str) -> bool {
    w.starts_with("for_each")
        || w.contains("_for_each")
        || w.starts_with("list_for_")
        || w.starts_with("xas_for_")
        || w.starts_with("bio_for_each")
        || w.starts_with("rq_for_each")
}

fn matching_paren(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            b'\n' if k > open + 400 => return None,
            _ => {}
        }
    }
    None
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Parse one C file and summarise it. `None` only if tree-sitter gives up entirely.
pub fn summarise(src: &[u8]) -> Option<FileSummary> {
    let norm = normalise_kernel_c(src);
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_c::LANGUAGE.into()).ok()?;
    let tree = parser.parse(&norm, None)?;
    let root = tree.root_node();
    let mut fs = FileSummary {
        clean: !root.has_error(),
        ..Default::default()
    };
    let cx = Cx { src: &norm };
    cx.walk_top(root, &mut fs);
    Some(fs)
}

struct Cx<'a> {
    src: &'a [u8],
}

impl<'a> Cx<'a> {
    fn text(&self, n: Node) -> &'a str {
        std::str::from_utf8(&self.src[n.byte_range()]).unwrap_or("")
    }

    fn walk_top(&self, n: Node, fs: &mut FileSummary) {
        let mut cur = n.walk();
        for ch in n.named_children(&mut cur) {
            let d = depth(ch, MAX_DEPTH + 1);
            if d > MAX_DEPTH {
                self.too_deep(ch, d, fs);
                continue;
            }
            match ch.kind() {
                "function_definition" => {
                    if let Some(f) = self.function(ch) {
                        if let Some(p) = self.proto(ch, true) {
                            fs.protos.push(p);
                        }
                        fs.funcs.push(f);
                    }
                }
                "declaration" => {
                    if let Some(p) = self.proto(ch, false) {
                        fs.protos.push(p);
                    }
                    self.top_declaration(ch, fs)
                }
                "preproc_function_def" => {
                    if let Some(m) = self.macro_def(ch) {
                        fs.macros.push(m);
                    }
                }
                // Error recovery and preprocessor blocks can hide definitions one level down.
                "ERROR"
                | "preproc_if"
                | "preproc_ifdef"
                | "preproc_else"
                | "preproc_elif"
                | "linkage_specification"
                | "declaration_list" => self.walk_top(ch, fs),
                "expression_statement" => {
                    // `ops = { ... }` seen through error recovery: still collect initialisers.
                    self.collect_inits(ch, None, None, fs);
                }
                _ => {}
            }
        }
    }

    /// A top-level item nested deeper than [`MAX_DEPTH`]: recorded as not understood (a
    /// function keeps its name, with no body and `clean = false`).
    fn too_deep(&self, n: Node, depth: usize, fs: &mut FileSummary) {
        fs.clean = false;
        let name = if n.kind() == "function_definition" {
            n.child_by_field_name("declarator")
                .and_then(|d| self.function_declarator(d))
                .and_then(|fd| fd.child_by_field_name("declarator"))
                .and_then(|d| self.decl_name(d))
        } else {
            None
        };
        if let Some(name) = &name {
            fs.funcs.push(Func {
                name: name.clone(),
                line: line(n),
                end_line: n.end_position().row as u32 + 1,
                params: Vec::new(),
                ret_type: String::new(),
                var_types: BTreeMap::new(),
                clean: false,
                calls: Vec::new(),
                assigns: Vec::new(),
                returns: Vec::new(),
                stores: Vec::new(),
                consts: Vec::new(),
                var_ptr: BTreeMap::new(),
            });
        }
        fs.too_deep.push(TooDeep {
            line: line(n),
            name: name.unwrap_or_default(),
            depth,
        });
    }

    /// The prototype a function definition or a declaration at file scope gives, if it
    /// declares a function.
    fn proto(&self, n: Node, definition: bool) -> Option<Proto> {
        let decl = n.child_by_field_name("declarator")?;
        let decl = if decl.kind() == "init_declarator" {
            decl.child_by_field_name("declarator")?
        } else {
            decl
        };
        let fd = self.function_declarator(decl)?;
        let name = self.decl_name(fd.child_by_field_name("declarator")?)?;
        let mut params = Vec::new();
        if let Some(pl) = fd.child_by_field_name("parameters") {
            let mut cur = pl.walk();
            for p in pl.named_children(&mut cur) {
                if p.kind() != "parameter_declaration" {
                    continue;
                }
                let ty = p
                    .child_by_field_name("type")
                    .map(|t| self.type_name(t))
                    .unwrap_or_default();
                let (ptr, name) = match p.child_by_field_name("declarator") {
                    Some(d) => (ptr_depth(d), self.decl_name(d).unwrap_or_default()),
                    None => (0, String::new()),
                };
                params.push(Param { ty, ptr, name });
            }
        }
        // `f(void)` takes no parameter.
        if params.len() == 1 && params[0].ty == "void" && params[0].ptr == 0 {
            params.clear();
        }
        Some(Proto {
            name,
            line: line(n),
            params,
            definition,
        })
    }

    fn macro_def(&self, n: Node) -> Option<Macro> {
        let name = self.text(n.child_by_field_name("name")?).to_string();
        let mut params = Vec::new();
        if let Some(pl) = n.child_by_field_name("parameters") {
            let mut cur = pl.walk();
            for p in pl.named_children(&mut cur) {
                params.push(self.text(p).to_string());
            }
        }
        let body = n
            .child_by_field_name("value")
            .map(|v| {
                let one: String = self
                    .text(v)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                one.chars().take(200).collect()
            })
            .unwrap_or_default();
        Some(Macro {
            name,
            line: line(n),
            params,
            body,
        })
    }

    fn top_declaration(&self, d: Node, fs: &mut FileSummary) {
        let ty = d.child_by_field_name("type").map(|t| self.type_name(t));
        let mut cur = d.walk();
        for decl in d.children_by_field_name("declarator", &mut cur) {
            if decl.kind() == "init_declarator" {
                let var = decl
                    .child_by_field_name("declarator")
                    .and_then(|x| self.decl_name(x));
                if let Some(v) = decl.child_by_field_name("value") {
                    self.collect_inits(v, ty.clone(), var, fs);
                }
            }
        }
    }

    /// Designated initialisers `.field = ident` (or `&ident`) anywhere below `n`.
    fn collect_inits(
        &self,
        n: Node,
        ty: Option<String>,
        var: Option<String>,
        fs: &mut FileSummary,
    ) {
        if n.kind() == "initializer_list" {
            let mut cur = n.walk();
            for p in n.named_children(&mut cur) {
                if p.kind() != "initializer_pair" {
                    if p.kind() == "initializer_list" {
                        self.collect_inits(p, None, var.clone(), fs);
                    }
                    continue;
                }
                let field = p
                    .child_by_field_name("designator")
                    .filter(|d| d.kind() == "field_designator")
                    .and_then(|d| d.named_child(0))
                    .map(|f| self.text(f).to_string());
                let value = p.child_by_field_name("value");
                if let (Some(field), Some(value)) = (field, value) {
                    let target = match value.kind() {
                        "identifier" => Some(self.text(value).to_string()),
                        "pointer_expression" => value
                            .child_by_field_name("argument")
                            .filter(|a| a.kind() == "identifier")
                            .map(|a| self.text(a).to_string()),
                        _ => None,
                    };
                    if let Some(target) = target {
                        fs.ops.push(OpsEntry {
                            ty: ty.clone(),
                            var: var.clone(),
                            field,
                            target,
                            line: line(p),
                        });
                    } else if value.kind() == "initializer_list" {
                        self.collect_inits(value, None, var.clone(), fs);
                    }
                }
            }
        } else {
            let mut cur = n.walk();
            for ch in n.named_children(&mut cur) {
                self.collect_inits(ch, ty.clone(), var.clone(), fs);
            }
        }
    }

    fn type_name(&self, t: Node) -> String {
        match t.kind() {
            "struct_specifier" | "union_specifier" | "enum_specifier" => t
                .child_by_field_name("name")
                .map(|n| self.text(n).to_string())
                .unwrap_or_default(),
            _ => self.text(t).trim().to_string(),
        }
    }

    /// The identifier a declarator declares.
    fn decl_name(&self, d: Node) -> Option<String> {
        match d.kind() {
            "identifier" | "field_identifier" => Some(self.text(d).to_string()),
            _ => {
                if let Some(inner) = d.child_by_field_name("declarator") {
                    return self.decl_name(inner);
                }
                let mut cur = d.walk();
                let found = d.named_children(&mut cur).find_map(|c| self.decl_name(c));
                found
            }
        }
    }

    fn function_declarator<'t>(&self, d: Node<'t>) -> Option<Node<'t>> {
        if d.kind() == "function_declarator" {
            return Some(d);
        }
        d.child_by_field_name("declarator")
            .and_then(|x| self.function_declarator(x))
    }

    fn function(&self, f: Node) -> Option<Func> {
        let fd = self.function_declarator(f.child_by_field_name("declarator")?)?;
        let name = self.decl_name(fd.child_by_field_name("declarator")?)?;
        let mut func = Func {
            name,
            line: line(f),
            end_line: f.end_position().row as u32 + 1,
            params: Vec::new(),
            ret_type: f
                .child_by_field_name("type")
                .map(|t| self.type_name(t))
                .unwrap_or_default(),
            var_types: BTreeMap::new(),
            clean: !f.has_error(),
            calls: Vec::new(),
            assigns: Vec::new(),
            returns: Vec::new(),
            stores: Vec::new(),
            consts: Vec::new(),
            var_ptr: BTreeMap::new(),
        };
        if let Some(pl) = fd.child_by_field_name("parameters") {
            let mut cur = pl.walk();
            for p in pl.named_children(&mut cur) {
                if p.kind() != "parameter_declaration" {
                    continue;
                }
                let pname = p
                    .child_by_field_name("declarator")
                    .and_then(|d| self.decl_name(d))
                    .unwrap_or_default();
                if let Some(t) = p.child_by_field_name("type") {
                    if !pname.is_empty() {
                        func.var_types.insert(pname.clone(), self.type_name(t));
                        let k = p.child_by_field_name("declarator").map_or(0, ptr_depth);
                        if k > 0 {
                            func.var_ptr.insert(pname.clone(), k);
                        }
                    }
                }
                func.params.push(pname);
            }
        }
        if let Some(body) = f.child_by_field_name("body") {
            self.walk_body(body, false, &mut func);
        }
        func.consts.sort();
        func.consts.dedup();
        Some(func)
    }

    fn walk_body(&self, n: Node, cond: bool, func: &mut Func) {
        match n.kind() {
            "call_expression" => {
                let callee = n
                    .child_by_field_name("function")
                    .map(|c| self.callee_name(c))
                    .unwrap_or_default();
                let mut args = Vec::new();
                if let Some(al) = n.child_by_field_name("arguments") {
                    let mut cur = al.walk();
                    for a in al.named_children(&mut cur) {
                        if a.kind() != "comment" {
                            args.push(self.expr_text(a));
                        }
                    }
                }
                func.calls.push(Call {
                    callee,
                    line: line(n),
                    args,
                    conditional: cond,
                });
            }
            "assignment_expression" => {
                if let (Some(l), Some(r)) = (
                    n.child_by_field_name("left"),
                    n.child_by_field_name("right"),
                ) {
                    let lhs = self.lhs_root(l);
                    if r.kind() == "compound_literal_expression" {
                        self.store_literal(r, self.base_var(l), func);
                    }
                    if l.kind() == "field_expression" {
                        if let (Some(base), Some(field)) = (
                            l.child_by_field_name("argument"),
                            l.child_by_field_name("field"),
                        ) {
                            func.stores.push(Store {
                                base: self.base_var(base),
                                ty: None,
                                fields: vec![(self.text(field).to_string(), self.expr(r))],
                                line: line(n),
                            });
                        }
                    }
                    if !lhs.is_empty() {
                        func.assigns.push(Assign {
                            lhs,
                            rhs: self.expr(r),
                            line: line(n),
                        });
                    }
                }
            }
            "declaration" => {
                let ty = n.child_by_field_name("type").map(|t| self.type_name(t));
                let mut cur = n.walk();
                for d in n.children_by_field_name("declarator", &mut cur) {
                    let (dn, value) = if d.kind() == "init_declarator" {
                        (
                            d.child_by_field_name("declarator"),
                            d.child_by_field_name("value"),
                        )
                    } else {
                        (Some(d), None)
                    };
                    let Some(var) = dn.and_then(|x| self.decl_name(x)) else {
                        continue;
                    };
                    if let Some(t) = &ty {
                        func.var_types.insert(var.clone(), t.clone());
                        let k = dn.map_or(0, ptr_depth);
                        if k > 0 {
                            func.var_ptr.insert(var.clone(), k);
                        }
                    }
                    if let Some(v) = value {
                        if v.kind() == "initializer_list" {
                            func.stores.push(Store {
                                base: var.clone(),
                                ty: ty.clone(),
                                fields: self.init_fields(v),
                                line: line(v),
                            });
                        } else if v.kind() == "compound_literal_expression" {
                            self.store_literal(v, var.clone(), func);
                        }
                        func.assigns.push(Assign {
                            lhs: var,
                            rhs: self.expr(v),
                            line: line(d),
                        });
                    }
                }
            }
            "return_statement" => {
                if let Some(e) = n.named_child(0) {
                    func.returns.push(self.expr(e));
                }
            }
            "identifier" => {
                let t = self.text(n);
                if t.len() > 2
                    && t.bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
                {
                    func.consts.push(t.to_string());
                }
            }
            "compound_literal_expression" => {
                // Not directly assigned: still a store pattern when handed on.
                let mut has_parent_assign = false;
                if let Some(p) = n.parent() {
                    has_parent_assign =
                        matches!(p.kind(), "assignment_expression" | "init_declarator");
                }
                if !has_parent_assign {
                    self.store_literal(n, String::new(), func);
                }
            }
            _ => {}
        }
        let mut cur = n.walk();
        for ch in n.named_children(&mut cur) {
            let c = cond
                || matches!(
                    (n.kind(), ch.kind()),
                    ("if_statement", "compound_statement")
                        | ("if_statement", "else_clause")
                        | ("if_statement", "expression_statement")
                        | ("if_statement", "return_statement")
                        | ("conditional_expression", _)
                        | ("switch_statement", "compound_statement")
                ) && !(n.kind() == "conditional_expression"
                    && n.child_by_field_name("condition") == Some(ch));
            self.walk_body(ch, c, func);
        }
    }

    fn store_literal(&self, lit: Node, base: String, func: &mut Func) {
        let ty = lit
            .child_by_field_name("type")
            .and_then(|t| t.child_by_field_name("type"))
            .map(|t| self.type_name(t));
        if let Some(v) = lit.child_by_field_name("value") {
            func.stores.push(Store {
                base,
                ty,
                fields: self.init_fields(v),
                line: line(lit),
            });
        }
    }

    fn init_fields(&self, list: Node) -> Vec<(String, Expr)> {
        let mut out = Vec::new();
        let mut cur = list.walk();
        for p in list.named_children(&mut cur) {
            if p.kind() != "initializer_pair" {
                continue;
            }
            let field = p
                .child_by_field_name("designator")
                .filter(|d| d.kind() == "field_designator")
                .and_then(|d| d.named_child(0))
                .map(|f| self.text(f).to_string());
            if let (Some(field), Some(v)) = (field, p.child_by_field_name("value")) {
                out.push((field, self.expr(v)));
            }
        }
        out
    }

    fn callee_name(&self, c: Node) -> String {
        match c.kind() {
            "identifier" => self.text(c).to_string(),
            "field_expression" => c
                .child_by_field_name("field")
                .map(|f| format!("->{}", self.text(f)))
                .unwrap_or_default(),
            "parenthesized_expression" => c
                .named_child(0)
                .map(|x| self.callee_name(x))
                .unwrap_or_default(),
            "pointer_expression" => c
                .child_by_field_name("argument")
                .map(|x| self.callee_name(x))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// What an lvalue writes into: `x`, `x[i]`, `*x` → `x`; `x->f`, `x.f[i]` → `x->f`.
    fn lhs_root(&self, l: Node) -> String {
        match l.kind() {
            "identifier" => self.text(l).to_string(),
            "field_expression" => {
                if let (Some(a), Some(f)) = (
                    l.child_by_field_name("argument"),
                    l.child_by_field_name("field"),
                ) {
                    if a.kind() == "identifier" {
                        return format!("{}->{}", self.text(a), self.text(f));
                    }
                    return self.lhs_root(a);
                }
                String::new()
            }
            "subscript_expression" | "pointer_expression" => l
                .child_by_field_name("argument")
                .map(|a| self.lhs_root(a))
                .unwrap_or_default(),
            "parenthesized_expression" | "cast_expression" => {
                let inner = l
                    .child_by_field_name("value")
                    .or_else(|| l.named_child(l.named_child_count().saturating_sub(1)));
                inner.map(|a| self.lhs_root(a)).unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// The variable at the bottom of an lvalue: `x->f[i]` → `x`.
    fn base_var(&self, l: Node) -> String {
        match l.kind() {
            "identifier" => self.text(l).to_string(),
            _ => l
                .child_by_field_name("argument")
                .or_else(|| l.child_by_field_name("value"))
                .or_else(|| l.named_child(0))
                .map(|a| self.base_var(a))
                .unwrap_or_default(),
        }
    }

    /// A call argument: keeps its text (flags such as FOLL_PIN are read from it).
    fn expr_text(&self, n: Node) -> Expr {
        let mut e = self.expr(n);
        e.text = shorten(self.text(n));
        e
    }

    fn expr(&self, n: Node) -> Expr {
        let mut e = Expr::default();
        self.expr_into(n, &mut e.roots, &mut e.calls);
        e.roots.sort();
        e.roots.dedup();
        e
    }

    fn expr_into(&self, n: Node, roots: &mut Vec<String>, calls: &mut Vec<(String, Vec<String>)>) {
        match n.kind() {
            "identifier" => roots.push(self.text(n).to_string()),
            "field_identifier" | "type_descriptor" | "string_literal" | "comment" => {}
            "sizeof_expression" => {}
            "field_expression" => {
                if let (Some(a), Some(f)) = (
                    n.child_by_field_name("argument"),
                    n.child_by_field_name("field"),
                ) {
                    if a.kind() == "identifier" {
                        roots.push(format!("{}->{}", self.text(a), self.text(f)));
                    }
                    self.expr_into(a, roots, calls);
                }
            }
            "call_expression" => {
                let callee = n
                    .child_by_field_name("function")
                    .map(|c| self.callee_name(c))
                    .unwrap_or_default();
                let mut aroots = Vec::new();
                if let Some(al) = n.child_by_field_name("arguments") {
                    self.expr_into(al, &mut aroots, calls);
                }
                aroots.sort();
                aroots.dedup();
                calls.push((callee, aroots));
            }
            _ => {
                let mut cur = n.walk();
                for ch in n.named_children(&mut cur) {
                    self.expr_into(ch, roots, calls);
                }
            }
        }
    }
}

/// The nesting depth of the syntax tree under `n`, counted without recursion; stops counting
/// at `cap`.
pub fn depth(n: Node, cap: usize) -> usize {
    // A cursor made from `n` treats `n` as its root: it never moves to `n`'s siblings or parent.
    let mut cur = n.walk();
    let mut d = 1usize;
    let mut max = 1usize;
    loop {
        if d < cap && cur.goto_first_child() {
            d += 1;
            max = max.max(d);
            continue;
        }
        loop {
            if cur.goto_next_sibling() {
                break;
            }
            if !cur.goto_parent() {
                return max;
            }
            d -= 1;
        }
    }
}

/// How many `*` and `[]` a declarator adds: `**pages` → 2, `pages[]` → 1.
fn ptr_depth(d: Node) -> u8 {
    let mut n = 0u8;
    let mut cur = Some(d);
    while let Some(x) = cur {
        match x.kind() {
            "pointer_declarator"
            | "abstract_pointer_declarator"
            | "array_declarator"
            | "abstract_array_declarator" => n = n.saturating_add(1),
            _ => {}
        }
        cur = x.child_by_field_name("declarator");
    }
    n
}

fn line(n: Node) -> u32 {
    n.start_position().row as u32 + 1
}

fn shorten(t: &str) -> String {
    let one: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 80 {
        let s: String = one.chars().take(77).collect();
        format!("{s}...")
    } else {
        one
    }
}
