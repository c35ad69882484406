/**
 * `{{ name }}` and `{{ name | default("text") }}` placeholders of rule payloads. Deliberately tiny: no
 * expressions, no code, so a rule file can never do more than copy the input's parts into fields.
 */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)?)\s*(?:\|\s*default\(\s*"([^"]*)"\s*\)\s*)?\}\}/g;
const ANY_BRACES = /\{\{|\}\}/;

export interface TemplateContext {
  input: string;
  input_type?: string;
  user_id: string;
  product?: string;
  groups: Record<string, string | undefined>;
}

/** Variables a template may name; `groups.<name>` must be a named group of the rule's pattern. */
export const TEMPLATE_VARIABLES = ['input', 'input_type', 'user_id', 'product'] as const;

/** The variable names a template uses, or an error message when its syntax is wrong. */
export function templateVariables(template: string): { variables: string[] } | { error: string } {
  const variables: string[] = [];
  const rest = template.replace(PLACEHOLDER, (_match, name: string) => {
    variables.push(name);
    return '';
  });
  if (ANY_BRACES.test(rest)) {
    return { error: `malformed placeholder in "${template}" (expected {{ name }} or {{ name | default("text") }})` };
  }
  return { variables };
}

export function renderTemplate(template: string, ctx: TemplateContext): string {
  return template
    .replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
      const value = lookup(name, ctx);
      return value !== undefined && value !== '' ? value : (fallback ?? '');
    })
    .trim();
}

function lookup(name: string, ctx: TemplateContext): string | undefined {
  if (name.startsWith('groups.')) return ctx.groups[name.slice('groups.'.length)]?.trim();
  switch (name) {
    case 'input':
      return ctx.input;
    case 'input_type':
      return ctx.input_type;
    case 'user_id':
      return ctx.user_id;
    case 'product':
      return ctx.product;
    default:
      return undefined;
  }
}
