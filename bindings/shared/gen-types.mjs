// Writes bindings/shared/types.ts from the engine's own type declarations.
//
//   cargo run -q -p ov-memory --features ts --example ts_types | node bindings/shared/gen-types.mjs
//
// The Rust program prints each JSON type (options in, results out) as ts-rs
// declares it, with its doc comments. This script makes those declarations
// read as the JS packages speak: interfaces instead of type aliases, 64-bit
// integers as `number` (ids, times and counts stay below 2^53; the engine's
// JSON carries them as numbers), and in the options types every key optional
// (the program checked that each parses from `{}`) and lists read-only.
// A type that flattens another (`ContextItem`, which holds a `Hit`) extends
// it, once its inline fields are checked to be the other's. Rustdoc links
// become plain code spans. `make types` runs it, and
// `make types-check` fails when the checked-in file differs.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const ts = createRequire(import.meta.url)('../node_modules/typescript')

const entries = JSON.parse(readFileSync(0, 'utf8'))

/** `[`crate::Store::retrieve`]` → `` `retrieve` ``. */
const plainLinks = (text) => text.replace(/\[`([^`\]]+)`\](\([^)]*\))?/g, (_, path) => '`' + path.replace(/^(?:[A-Za-z_]\w*::)+/, '') + '`')
/** Drops a doc comment's Rust examples (a fenced block and the blank line before it). */
const noRustExamples = (docs) => docs.replace(/(\n \*)?\n \* ```[^]*?\n \* ```/g, '')

const source = entries.map((e) => plainLinks(`${noRustExamples(e.docs ?? '')}export ${e.decl}`)).join('\n\n')
const file = ts.createSourceFile('types.ts', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS)
const options = new Set(entries.filter((e) => e.options).map((e) => e.name))
const accepted = new Map(entries.filter((e) => e.keys).map((e) => [e.name, new Set(e.keys)]))
const extending = new Map(entries.filter((e) => e.extends).map((e) => [e.name, e.extends]))

function transform(context) {
  const f = context.factory
  return (root) => {
    const visitType = (optional) => (node) => {
      if (node.kind === ts.SyntaxKind.BigIntKeyword) return f.createKeywordTypeNode(ts.SyntaxKind.NumberKeyword)
      if (optional && ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName) && node.typeName.text === 'Array') {
        return f.updateTypeReferenceNode(node, f.createIdentifier('ReadonlyArray'), ts.visitNodes(node.typeArguments, visitType(optional)))
      }
      // `Option<Option<T>>` (a key that may be null to clear it) reads `T | null | null`.
      if (ts.isUnionTypeNode(node)) {
        const seen = new Set()
        const types = node.types.filter((t) => !seen.has(t.getText()) && seen.add(t.getText()))
        return ts.visitEachChild(f.updateUnionTypeNode(node, f.createNodeArray(types)), visitType(optional), context)
      }
      if (ts.isPropertySignature(node) && optional) {
        return f.updatePropertySignature(node, node.modifiers, node.name, f.createToken(ts.SyntaxKind.QuestionToken), ts.visitNode(node.type, visitType(optional)))
      }
      return ts.visitEachChild(node, visitType(optional), context)
    }
    // A type that flattens another (ts-rs writes the other's fields inline)
    // extends it instead: its own members only, after checking that the
    // inline ones are the base's, with the same types.
    const members = new Map()
    // `source` is the declaration as read (its text is compared), `type` as transformed.
    const inherit = (name, source, type) => {
      const base = extending.get(name)
      if (!base) return { heritage: undefined, own: type.members }
      const baseMembers = members.get(base)
      if (!baseMembers) throw new Error(`${name} extends ${base}, which must be declared before it`)
      const text = (m) => `${m.name.text}: ${m.type.getText()}`
      const fromBase = new Set(baseMembers.map(text))
      const inline = new Set(source.members.map(text))
      for (const t of fromBase) {
        if (!inline.has(t)) throw new Error(`${name} extends ${base} but lacks ${t}`)
      }
      const heritage = [f.createHeritageClause(ts.SyntaxKind.ExtendsKeyword, [f.createExpressionWithTypeArguments(f.createIdentifier(base), undefined)])]
      return { heritage, own: type.members.filter((_, i) => !fromBase.has(text(source.members[i]))) }
    }
    const statements = root.statements.map((s) => {
      if (!ts.isTypeAliasDeclaration(s)) throw new Error(`unexpected declaration: ${s.getText()}`)
      const keys = accepted.get(s.name.text)
      if (keys && ts.isTypeLiteralNode(s.type)) {
        for (const m of s.type.members) {
          if (!keys.has(m.name.text)) throw new Error(`${s.name.text}.${m.name.text} is declared, but the engine does not take that key: give the field that alias`)
        }
      }
      const visit = visitType(options.has(s.name.text))
      const type = ts.visitNode(s.type, visit)
      if (!ts.isTypeLiteralNode(type)) return f.updateTypeAliasDeclaration(s, s.modifiers, s.name, s.typeParameters, type)
      members.set(s.name.text, s.type.members)
      const { heritage, own } = inherit(s.name.text, s.type, type)
      const iface = f.createInterfaceDeclaration(s.modifiers, s.name, s.typeParameters, heritage, own)
      return ts.setTextRange(iface, s)
    })
    return f.updateSourceFile(root, statements)
  }
}

const result = ts.transform(file, [transform])
const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed })
const body = printer.printFile(result.transformed[0])
result.dispose()

process.stdout.write(`// Generated by \`make types\` from the engine's Rust types (crates/ov-memory,
// examples/ts_types.rs, then bindings/shared/gen-types.mjs). Do not edit:
// change the Rust type or its doc comment and run \`make types\`.
//
// Result objects keep the engine's JSON key names (snake_case); option
// objects are written in camelCase here, and the engine takes snake_case too.

import type { ErrorCode, Filter, Vector } from './surface.js'

${body}`)
