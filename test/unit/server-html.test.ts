import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, html } from '../../src/server/html.js';

describe('html template', () => {
  it('escapes every interpolated value, including in attributes', () => {
    const hostile = `"><script>alert('x')</script>&`;
    const escaped = '&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;';
    assert.equal(html`<a title="${hostile}">${hostile}</a>`.text, `<a title="${escaped}">${escaped}</a>`);
    assert.equal(escapeHtml('`'), '&#96;');
  });

  it('nests templates and arrays without escaping them twice, and drops null, undefined and false', () => {
    const items = ['<1>', '2'].map((v) => html`<li>${v}</li>`);
    assert.equal(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.text, '<ul><li>&lt;1&gt;</li><li>2</li></ul>0');
  });
});
