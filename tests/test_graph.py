"""Resolution, the graph's nodes and edges, duplicates and cycles — through kb.open_vault."""

from __future__ import annotations

import unicodedata

import kb


def diags(graph, code: str) -> list[tuple[str, int, str]]:
    return [(d.path, d.line, d.severity) for d in graph.diagnostics if d.code == code]


def test_nodes_and_edges_of_every_kind(make_vault) -> None:
    root = make_vault({
        "notes/eigenvalues.md": "---\ntype: concept\nprerequisites: [determinant]\n---\n# Eigen\n",
        "notes/strang.md": "---\ntype: source\nkind: book\n---\n",
        "notes/r.md": "---\nconcept: eigenvalues\nsource: strang\n---\nsee [[p]]\n",
        "notes/p.md": "---\ntype: practice\npractice: code\nconcept: eigenvalues\n---\n",
    })
    graph = kb.open_vault(root).graph.graph
    assert graph.nodes["concept:eigenvalues"] == {"kind": "concept", "title": "Eigen", "level": "code"}
    assert graph.nodes["concept:determinant"]["kind"] == "concept"
    assert graph.nodes["source:strang"]["kind"] == "source"
    assert graph.nodes["note:r"]["kind"] == "note"
    assert graph.edges["concept:determinant", "concept:eigenvalues"]["kind"] == "prerequisite"
    assert graph.edges["note:r", "concept:eigenvalues"]["kind"] == "about"
    assert graph.edges["note:r", "source:strang"]["kind"] == "from"
    assert graph.edges["note:r", "note:p"]["kind"] == "link"


def test_resolution_by_id_path_alias_case_and_nfc(make_vault) -> None:
    decomposed = unicodedata.normalize("NFD", "café")
    root = make_vault({
        "notes/concepts/Matrices.md": "---\ntype: concept\naliases: [matrix]\n---\n",
        "notes/café.md": "---\ntype: concept\n---\n",
        "notes/a.md": (f"[[matrices]] [[MATRICES]] [[concepts/matrices]] [[Matrices.md]]\n"
                       f"[[{decomposed}]] [[matrix]] [x](concepts/Matrices.md)\n"),
    })
    graph = kb.open_vault(root).graph
    assert diags(graph, "dangling-link") == []
    assert graph.graph.has_edge("note:a", "concept:Matrices")
    assert graph.graph.has_edge("note:a", "concept:café")
    assert diags(graph, "alias-link") == [("notes/a.md", 2, "info")]


def test_arabic_and_cjk_ids_are_ordinary(make_vault) -> None:
    root = make_vault({
        "notes/القيم-الذاتية.md": "---\ntype: concept\n---\n",
        "notes/行列式.md": "---\ntype: concept\n---\n",
        "notes/r.md": "---\nconcept: \"[[القيم-الذاتية]]\"\nprerequisites: [行列式]\n---\n",
    })
    graph = kb.open_vault(root).graph
    assert graph.diagnostics == []
    assert graph.graph.has_edge("concept:行列式", "concept:القيم-الذاتية")


def test_dangling_link_warns_with_path_and_line(make_vault) -> None:
    root = make_vault({"notes/a.md": "line one\n\nsee [[nowhere]]\n", "notes/fig.png": b"\x89PNG"})
    root.joinpath("notes/b.md").write_text("![[fig.png]] ![[missing.png]]\n")
    graph = kb.open_vault(root).graph
    assert diags(graph, "dangling-link") == [("notes/a.md", 3, "warning"), ("notes/b.md", 1, "warning")]
    assert "missing.png" in [d.message for d in graph.diagnostics if d.path == "notes/b.md"][0]


def test_ambiguous_stem_follows_obsidian(make_vault) -> None:
    root = make_vault({
        "notes/concepts/matrices.md": "---\ntype: concept\n---\n",
        "notes/drafts/matrices.md": "draft\n",
        "notes/drafts/old.md": "[[matrices]]\n",
        "notes/top.md": "[[matrices]]\n[[drafts/matrices]]\n",
    })
    graph = kb.open_vault(root).graph
    # both notes kept, each known by its folder path
    assert "concepts/matrices" in graph.notes and "drafts/matrices" in graph.notes
    # same folder wins for drafts/old; a tie elsewhere is broken as Obsidian breaks it (shortest
    # path, then by path): a warning listing both, never an error
    assert graph.graph.has_edge("note:old", "note:drafts/matrices")
    warnings = [d for d in graph.diagnostics if d.code == "ambiguous-link"]
    assert [(d.path, d.line, d.severity) for d in warnings] == [
        ("notes/drafts/old.md", 1, "warning"), ("notes/top.md", 1, "warning")]
    assert "notes/concepts/matrices.md" in warnings[1].message
    assert "using notes/drafts/matrices.md" in warnings[1].message  # the shorter path
    # the folder/id link picks its file
    assert graph.graph.has_edge("note:top", "note:drafts/matrices")


def test_the_linking_notes_own_folder_wins_over_a_shorter_path(make_vault) -> None:
    root = make_vault({
        "notes/la/svd.md": "---\ntype: concept\n---\n",
        "notes/deep/er/svd.md": "---\ntype: concept\n---\n",
        "notes/deep/er/use.md": "[[svd]]\n",
        "notes/top.md": "[[svd]]\n",
    })
    graph = kb.open_vault(root).graph
    assert graph.graph.has_edge("note:use", "concept:deep/er/svd")
    assert graph.graph.has_edge("note:top", "concept:la/svd")  # elsewhere: the shorter path


def test_shortest_path_wins_with_a_warning(make_vault) -> None:
    root = make_vault({
        "notes/la/svd.md": "---\ntype: concept\n---\n",
        "notes/old/notes/svd.md": "---\ntype: concept\n---\n",
        "notes/x/a.md": "---\nprerequisites: [svd]\n---\n",
    })
    graph = kb.open_vault(root).graph
    assert graph.graph.has_edge("concept:la/svd", "concept:a")
    assert diags(graph, "ambiguous-link") == [("notes/x/a.md", 2, "warning")]


def test_exact_vault_path_wins_over_the_linking_notes_folder(make_vault) -> None:
    """Obsidian: `[[Chemie]]` is the vault root's Chemie.md, even beside a sub/Chemie.md."""
    root = make_vault({
        "notes/Chemie.md": "---\ntype: concept\n---\n",
        "notes/sub/Chemie.md": "---\ntype: concept\n---\n",
        "notes/sub/a.md": "[[Chemie]] and [[sub/Chemie]] and [[./Chemie]]\n",
    })
    graph = kb.open_vault(root).graph
    assert graph.graph.has_edge("note:a", "concept:Chemie")
    assert graph.graph.has_edge("note:a", "concept:sub/Chemie")
    assert diags(graph, "ambiguous-link") == []


def test_markdown_links_without_md_and_self_links_resolve(make_vault) -> None:
    root = make_vault({
        "notes/Note B.md": "b\n",
        "notes/Folder/Note.md": "n\n",
        "notes/a.md": "[b](Note%20B) [x](Folder/Note#Heading) [[#Top]] [y](<Note B.md>)\n# Top\n",
        "notes/pic.png": "",
    })
    graph = kb.open_vault(root).graph
    assert graph.graph.has_edge("note:a", "note:Note B")
    assert graph.graph.has_edge("note:a", "note:Note")
    assert graph.graph.has_edge("note:a", "note:a")  # [[#Top]]: a link to the note itself
    assert diags(graph, "dangling-link") == []


def test_a_name_only_aliases_share_is_unresolved_with_a_warning(make_vault) -> None:
    root = make_vault({
        "notes/x.md": "---\naliases: [ML]\n---\n",
        "notes/y.md": "---\naliases: [ml]\n---\n",
        "notes/a.md": "[[ML]]\n",
    })
    graph = kb.open_vault(root).graph
    assert diags(graph, "ambiguous-link") == [("notes/a.md", 1, "warning")]
    assert not any(graph.graph.has_edge("note:a", f"note:{n}") for n in ("x", "y"))


def test_duplicate_id_without_a_path_to_tell_apart(make_vault) -> None:
    root = make_vault({"notes/a/Note.md": "one\n", "notes/a/note.md": "two\n", "notes/b.md": "[[x]]\n"})
    graph = kb.open_vault(root).graph
    errors = [d for d in graph.diagnostics if d.code == "duplicate-id"]
    assert len(errors) == 1
    assert "notes/a/Note.md" in errors[0].message and "notes/a/note.md" in errors[0].message
    assert "b" in graph.notes  # the rest of the vault still loads


def test_cycle_is_an_error_naming_each_edge_and_where(make_vault) -> None:
    root = make_vault({
        "notes/a.md": "---\ntype: concept\nprerequisites: [c]\n---\n",
        "notes/b.md": "---\ntype: concept\nprerequisites:\n  - x\n  - a\n---\n",
        "notes/c.md": "---\ntype: concept\nprerequisites: [b]\n---\n",
    })
    graph = kb.open_vault(root).graph
    cycles = [d for d in graph.diagnostics if d.code == "cycle"]
    assert len(cycles) == 1 and cycles[0].severity == "error"
    message = cycles[0].message
    for site in ("notes/a.md:3", "notes/b.md:5", "notes/c.md:3"):
        assert site in message


def test_levels_readings_sources_and_unblocks(make_vault) -> None:
    root = make_vault({
        "notes/a.md": "---\ntype: concept\n---\n",
        "notes/b.md": "---\ntype: concept\nprerequisites: [a]\n---\n",
        "notes/c.md": "---\ntype: concept\nprerequisites: [b, a]\n---\n",
        "notes/d.md": "---\ntype: concept\nprerequisites: [c]\n---\n",
        "notes/s1.md": "---\ntype: source\n---\n",
        "notes/r1.md": "---\nconcept: a\nsource: s1\n---\n",
        "notes/r2.md": "---\nconcept: a\nsource: s1\n---\n",
        "notes/p.md": "---\ntype: practice\npractice: exercise\nconcept: b\n---\n",
        "notes/q.md": "---\ntype: practice\npractice: project\nconcept: [c]\n---\n",
    })
    graph = kb.open_vault(root).graph
    levels = {k: c.level for k, c in graph.concepts.items()}
    assert levels == {"a": "read", "b": "exercise", "c": "project", "d": "read"}
    assert {k: c.unblocks for k, c in graph.concepts.items()} == {"a": 3, "b": 2, "c": 1, "d": 0}
    assert graph.concepts["a"].readings == 2
    assert graph.sources_of(graph.concepts["a"]) == ["s1"]


def test_reading_note_without_concept_is_about_itself(make_vault) -> None:
    graph = kb.open_vault(make_vault({"notes/lonely.md": "just text\n"})).graph
    assert graph.concepts["lonely"].level == "read"


def test_every_source_becomes_a_node_and_knows_its_notes(make_vault) -> None:
    root = make_vault({
        "notes/book.md": "---\ntype: source\ntitle: The Book\n---\n",
        "notes/idea.md": "---\ntype: concept\ntitle: An Idea\n---\n",
        "notes/r1.md": "---\nconcept: a\nsource: book\n---\n",
        "notes/r2.md": "---\nconcept: a\nsource: idea\n---\n",       # not a source note
        "notes/r3.md": "---\nconcept: b\nsource: Lost Paper\n---\n",  # no source note
        "notes/r4.md": "---\nconcept: b\nsource: lost paper\n---\n",
    })
    kg = kb.open_vault(root).graph
    nodes = kg.graph.nodes
    assert nodes["source:book"] == {"kind": "source", "title": "The Book"}
    assert nodes["source:idea"] == {"kind": "source", "title": "An Idea"}
    assert nodes["note:idea"]["type"] == "concept" and nodes["concept:idea"]["kind"] == "concept"
    assert nodes["source:Lost Paper"] == {"kind": "source", "title": "Lost Paper"}
    assert "source:lost paper" not in nodes  # one missing source, however it is written
    assert [n.id for n in kg.cited_by("Lost Paper")] == ["r3", "r4"]
    assert kg.graph.edges["note:r2", "source:idea"] == {"kind": "from"}
    assert kg.graph.edges["note:book", "source:book"] == {"kind": "from"}
    assert kg.sources_of(kg.concepts["a"]) == ["book", "idea"]
    assert [n.id for n in kg.cited_by("book")] == ["r1"]
    assert [n.id for n in kg.cited_by("idea")] == ["r2"]
    codes = sorted(d.code for d in kg.diagnostics)
    assert codes == ["dangling-source", "dangling-source", "not-a-source"]


def test_unknown_type_is_one_warning_per_value_with_a_count(make_vault) -> None:
    root = make_vault({f"notes/b{i}.md": "---\ntitle: B\ntype: book\n---\n" for i in range(5)}
                      | {"notes/p.md": "---\ntype: project\n---\n", "notes/r.md": "plain\n"})
    graph = kb.open_vault(root).graph
    found = [(d.path, d.line, d.severity) for d in graph.diagnostics if d.code == "unknown-type"]
    assert found == [("notes/b0.md", 3, "warning"), ("notes/p.md", 2, "warning")]
    message = next(d.message for d in graph.diagnostics if d.path == "notes/b0.md")
    assert "'book'" in message and "4 other notes" in message


def test_a_url_source_is_an_external_source_not_a_missing_note(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\nsource: https://arxiv.org/abs/2106.09685\n---\n"})
    graph = kb.open_vault(root).graph
    assert diags(graph, "dangling-source") == []
    assert graph.graph.has_edge("note:a", "source:https://arxiv.org/abs/2106.09685")
