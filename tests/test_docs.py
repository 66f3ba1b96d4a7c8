# Copyright (c) mogavision contributors. Licensed under the Apache License 2.0.
"""The README and the pages under docs/: every relative link and picture
resolves (file and, for markdown, heading), the README's first commands are
the two for a new machine, no internal references, and the model-zoo page
names every model of the zoo."""
import glob
import os.path as osp
import re

import pytest

#: [text](target) and ![alt](target); target without a title
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
#: <img src="..."> and <a href="...">
HTML_LINK = re.compile(r'<(?:img|a)\b[^>]*?\b(?:src|href)="([^"]+)"')
FENCE = re.compile(r'^\s*(```|~~~)')


def user_docs(repo_root):
    return [osp.join(repo_root, 'README.md')] + sorted(
        glob.glob(osp.join(repo_root, 'docs', '*.md')))


def without_code(text):
    """The text with fenced code blocks and inline code blanked out."""
    lines, fenced = [], False
    for line in text.split('\n'):
        if FENCE.match(line):
            fenced = not fenced
            lines.append('')
            continue
        lines.append('' if fenced else re.sub(r'`[^`]*`', '``', line))
    return '\n'.join(lines)


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r'[`*_]|<[^>]+>', '', heading.strip()).lower()
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path):
    with open(path, encoding='utf-8') as f:
        text = f.read()
    found, seen = set(), {}
    fenced = False
    for line in text.split('\n'):
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if m and not fenced:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f'{base}-{n}')
    return found


def links(path):
    with open(path, encoding='utf-8') as f:
        text = without_code(f.read())
    for number, line in enumerate(text.split('\n'), 1):
        for pattern in (LINK, HTML_LINK):
            for target in pattern.findall(line):
                yield number, target


def broken_links(path, repo_root):
    problems = []
    for number, target in links(path):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
            continue  # http(s), mailto, mogavision:// ...
        file_part, _, anchor = target.partition('#')
        where = f'{osp.relpath(path, repo_root)}:{number}: {target}'
        resolved = (osp.normpath(osp.join(osp.dirname(path), file_part))
                    if file_part else path)
        if not osp.realpath(resolved).startswith(
                osp.realpath(repo_root) + osp.sep):
            problems.append(f'{where} (outside the repository)')
        elif not osp.exists(resolved):
            problems.append(f'{where} (no such file)')
        elif anchor and resolved.endswith('.md') and \
                anchor not in anchors(resolved):
            problems.append(f'{where} (no heading #{anchor})')
    return problems


def test_relative_links_resolve(repo_root):
    problems = []
    for path in user_docs(repo_root):
        problems += broken_links(path, repo_root)
    assert not problems, '\n'.join(problems)


def test_link_checker_sees_broken_links(tmp_path):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'a.md').write_text('# A page\n\n## Two words\n')
    (tmp_path / 'README.md').write_text(
        '# x\n\n[ok](docs/a.md#two-words) [gone](docs/b.md) '
        '[bad anchor](docs/a.md#three) [web](https://example.org/x.md)\n'
        '<img src="docs/p.png">\n```\n[in code](docs/c.md)\n```\n')
    problems = broken_links(str(tmp_path / 'README.md'), str(tmp_path))
    assert [p.split(': ', 1)[1] for p in problems] == [
        'docs/b.md (no such file)', 'docs/a.md#three (no heading #three)',
        'docs/p.png (no such file)']


def test_readme_starts_with_the_two_commands(repo_root):
    with open(osp.join(repo_root, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    block = re.search(r'```\w*\n(.*?)```', text, re.S).group(1)
    commands = [line.split('#')[0].strip() for line in block.splitlines()]
    assert [c for c in commands if c] == ['make demo', 'make test']


@pytest.mark.parametrize('pattern', [
    r'\bissues? \d+', r'(?<![\w&])#\d+\b', r'/work/', r'/tmp/'])
def test_user_docs_have_no_internal_references(repo_root, pattern):
    hits = []
    for path in user_docs(repo_root):
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                if re.search(pattern, line, re.I):
                    hits.append(f'{osp.relpath(path, repo_root)}:{number}: '
                                f'{line.strip()}')
    assert not hits, '\n'.join(hits)


def test_model_zoo_page_names_every_model(repo_root):
    from mogavision.model_zoo import models
    with open(osp.join(repo_root, 'docs', 'model_zoo.md'),
              encoding='utf-8') as f:
        page = f.read()
    missing = [m.name for m in models()
               if f'[{m.name}](../configs/{m.task}/{m.name}.py)' not in page]
    assert not missing, missing
