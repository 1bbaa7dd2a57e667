"""From a concept (or a series) to rendered article text: assembly plus templates; and
ArticleWriter, which writes rendered articles through kb.vault.write."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from kb.articles.assemble import Article, assemble
from kb.articles.bibtex import format_bibliography
from kb.articles.sources import source_notes
from kb.errors import KbError
from kb.graph.concepts import KnowledgeGraph
from kb.graph.mastery import find_concept
from kb.graph.resolve import normalize
from kb.notes.slug import slugify
from kb.render import article_context, environment, output_extension, render
from kb.session import Session
from kb.vault.config import Config, SeriesConfig

BIBLIOGRAPHY = "references.bib"


@dataclass
class RenderedArticle:
    relative: str  # path inside the articles folder
    text: str
    article: Article | None  # None for a generated references.bib
    assets: dict[str, Path] = field(default_factory=dict)  # path inside articles/ → file to copy


class SeriesCollisionError(KbError):
    """Two series would write into the same folder."""


def series_folder(series: SeriesConfig) -> str:
    return slugify(series.slug, "series")


def check_series_folders(series_list: list[SeriesConfig]) -> None:
    """Two series whose slugs fold to one folder (on any file system: case and Unicode
    normalization ignored) would overwrite each other's parts: an error before anything is
    written."""
    seen: dict[str, SeriesConfig] = {}
    for series in series_list:
        folder = series_folder(series)
        key = normalize(folder)
        if key in seen:
            raise SeriesCollisionError(
                f"kb.toml: series '{seen[key].title}' (slug '{seen[key].slug}') and "
                f"'{series.title}' (slug '{series.slug}') would both be written to "
                f"articles/{folder}/; give one of them another slug")
        seen[key] = series


def _is_quarto(config: Config, template_name: str) -> bool:
    """Quarto output: callouts become Quarto callouts (plain mode: titled blockquotes)."""
    return config.citations == "quarto" or output_extension(template_name) == ".qmd"


def _assets(article: Article, folder: str) -> dict[str, Path]:
    return {f"{folder}/{name}" if folder else name: path for name, path in article.assets.items()}


def bibliography(kg: KnowledgeGraph, folder: str = "") -> RenderedArticle:
    """references.bib for the articles in `folder`: every source note of the vault, so the
    articles sharing a folder can share one file and it never depends on which ran last."""
    return RenderedArticle(f"{folder}/{BIBLIOGRAPHY}" if folder else BIBLIOGRAPHY,
                           format_bibliography(source_notes(kg)), None)


def render_article(session: Session, target: str, *, template: str | None = None,
                   today: dt.date | None = None) -> list[RenderedArticle]:
    """The article, and with `citations = "quarto"` the references.bib beside it."""
    kg, config = session.graph, session.config
    template_name = template or config.template
    concept = find_concept(kg, target)
    quarto = config.citations == "quarto"
    article = assemble(kg, concept, vault=session.vault, citations=config.citations,
                       quarto=_is_quarto(config, template_name))
    context = article_context(article, author=config.author, today=today or dt.date.today(),
                              citations=config.citations,
                              bibliography=BIBLIOGRAPHY if quarto else None)
    text = render(environment(session.vault.templates_dir), template_name, context)
    rendered = [RenderedArticle(f"{article.slug}{output_extension(template_name)}", text, article,
                                _assets(article, ""))]
    return rendered + [bibliography(kg)] if quarto else rendered


def render_series(session: Session, series: SeriesConfig, *, template: str | None = None,
                  today: dt.date | None = None) -> list[RenderedArticle]:
    """Each part covers only what no earlier part covered, and links back to the part that did."""
    kg, config = session.graph, session.config
    template_name = template or config.template
    extension = output_extension(template_name)
    env = environment(session.vault.templates_dir)
    folder = series_folder(series)
    quarto = config.citations == "quarto"
    concepts = [find_concept(kg, part) for part in series.parts]
    covered: dict[str, tuple[str, str]] = {}
    rendered: list[RenderedArticle] = []
    previous: list[dict[str, str]] = []
    for index, concept in enumerate(concepts, 1):
        slug = f"{index:02d}-{slugify(concept.key, 'part')}"
        article = assemble(kg, concept, vault=session.vault, covered=covered, slug=slug,
                           citations=config.citations,
                           quarto=_is_quarto(config, template_name))
        file_name = f"{slug}{extension}"
        context = article_context(article, author=config.author, today=today or dt.date.today(),
                                  series={"title": series.title, "slug": folder, "index": index,
                                          "count": len(concepts), "description": series.description,
                                          "previous": list(previous)},
                                  citations=config.citations,
                                  bibliography=BIBLIOGRAPHY if quarto else None)
        text = render(env, template_name, context)
        rendered.append(RenderedArticle(f"{folder}/{file_name}", text, article,
                                        _assets(article, folder)))
        for section in article.sections:
            covered.setdefault(section.concept.key, (file_name, section.anchor))
        previous.append({"title": article.title, "href": file_name})
    return rendered + [bibliography(kg, folder)] if quarto else rendered



@dataclass
class WrittenArticle:
    """What writing one rendered article did: the images copied beside it, then the article
    itself (`written`, `unchanged`, `replaced-edit`), or why it was refused (a hand edit)."""

    copied: list[str]  # vault-relative paths of the images copied
    path: str  # vault-relative
    outcome: str | None
    refused: str | None = None


class ArticleWriter:
    """Writes rendered articles into the vault's articles folder, each recorded as it is
    written (a crash loses no record), with the images it shows. An article edited by hand
    since kb wrote it is refused unless `force`."""

    def __init__(self, session: Session, *, force: bool) -> None:
        from kb.vault.write import Records

        self.vault = session.vault
        self.articles_dir = self.vault.articles_dir
        self.records = Records.load(self.vault.root)
        self.force = force

    @property
    def problem(self) -> str | None:
        """What went wrong with the records file, if anything (said once, at the end)."""
        return self.records.problem

    def write(self, item: RenderedArticle) -> WrittenArticle:
        from kb.vault.write import EditedArticleError, write_article, write_asset

        vault, folder = self.vault, self.articles_dir
        copied = [vault.relpath(folder / relative) for relative, source in sorted(item.assets.items())
                  if write_asset(folder, relative, source, self.records)]
        try:
            path, outcome = write_article(vault.root, folder, item.relative, item.text,
                                          self.records, force=self.force)
        except EditedArticleError as exc:
            return WrittenArticle(copied, vault.relpath(folder / item.relative), None, str(exc))
        return WrittenArticle(copied, vault.relpath(path), outcome)
