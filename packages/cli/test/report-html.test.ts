/**
 * The report's HTML document: escaping, the embedded JSON (which must survive "</script>" in a
 * kernel message), and that nothing is loaded from anywhere.
 */
import { attrs, esc, htmlDocument, scriptJson } from '../src/report/html';
import { embeddedJson } from './report-fixtures';

describe('escaping', () => {
  test('esc() turns the five HTML metacharacters into entities', () => {
    expect(esc(`<a href="x">Tom & Jerry's</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;',
    );
    expect(esc(42)).toBe('42');
  });

  test('attrs() leaves out undefined and false, writes true bare, escapes values', () => {
    expect(attrs({ class: 'a"b', title: undefined, open: true, hidden: false, n: 3 })).toBe(
      ' class="a&quot;b" open n="3"',
    );
  });

  test('scriptJson() writes no "<" at all, and parses back to the same value', () => {
    // A kernel message could hold anything; "</script>" or "<!--" must not end the block.
    const value = { message: 'a </script><script>alert(1)</script> <!-- b', n: [1, 2] };
    const text = scriptJson(value);
    expect(text).not.toContain('<');
    expect(text).toContain('\\u003c/script>');
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('htmlDocument', () => {
  const data = { scenario: 'x</script>y', results: [{ strategy: 'dma-vec' }] };
  const html = htmlDocument({
    title: 'T <1>',
    body: '<p>body</p>',
    data,
    dataLabel: 'dmasim run --json',
  });

  test('a complete page: doctype, language, charset, escaped title, the body', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain('<title>T &lt;1&gt;</title>');
    expect(html).toContain('<p>body</p>');
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
  });

  test('a Content-Security-Policy allows inline styles only: nothing can load or run', () => {
    expect(html).toContain(
      `content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`,
    );
  });

  test('the raw JSON is embedded for tools and shown pretty-printed in a <details>', () => {
    expect(JSON.parse(embeddedJson(html))).toEqual(data);
    // Pretty-printed (two-space indent), HTML-escaped inside <pre>.
    expect(html).toContain('<details><summary>Show the JSON');
    expect(html).toContain('&quot;scenario&quot;: &quot;x&lt;/script&gt;y&quot;');
    // The only "</script>" in the page is the one that closes the data block.
    expect(html.match(/<\/script>/g)).toHaveLength(1);
  });

  test('no external resources: no src or href to http(s), no @import or url()', () => {
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*https?:/i);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
  });
});
