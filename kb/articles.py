"""From a concept (or a series) to rendered article text: assembly plus templates. No writing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from kb.assemble import Article, assemble
from kb.config import Config, SeriesConfig
from kb.graph import KnowledgeGraph
from kb.mastery import find_concept
from kb.render import article_context, environment, output_extension, render
from kb.slug import slugify


@dataclass
class RenderedArticle:
    relative: str  # path inside the articles folder
    text: str
    article: Article


def render_article(kg: KnowledgeGraph, config: Config, templates_dir: Path | None, target: str,
                   *, template: str | None = None, today: dt.date | None = None) -> RenderedArticle:
    template_name = template or config.template
    concept = find_concept(kg, target)
    article = assemble(kg, concept)
    context = article_context(article, author=config.author, today=today or dt.date.today())
    text = render(environment(templates_dir), template_name, context)
    return RenderedArticle(f"{article.slug}{output_extension(template_name)}", text, article)


def render_series(kg: KnowledgeGraph, config: Config, templates_dir: Path | None,
                  series: SeriesConfig, *, template: str | None = None,
                  today: dt.date | None = None) -> list[RenderedArticle]:
    """Each part covers only what no earlier part covered, and links back to the part that did."""
    template_name = template or config.template
    extension = output_extension(template_name)
    env = environment(templates_dir)
    folder = slugify(series.slug, "series")
    concepts = [find_concept(kg, part) for part in series.parts]
    covered: dict[str, tuple[str, str]] = {}
    rendered: list[RenderedArticle] = []
    previous: list[dict[str, str]] = []
    for index, concept in enumerate(concepts, 1):
        slug = f"{index:02d}-{slugify(concept.key, 'part')}"
        article = assemble(kg, concept, covered=covered, slug=slug)
        file_name = f"{slug}{extension}"
        context = article_context(article, author=config.author, today=today or dt.date.today(),
                                  series={"title": series.title, "slug": folder, "index": index,
                                          "count": len(concepts), "description": series.description,
                                          "previous": list(previous)})
        text = render(env, template_name, context)
        rendered.append(RenderedArticle(f"{folder}/{file_name}", text, article))
        for section in article.sections:
            covered.setdefault(section.concept.key, (file_name, section.anchor))
        previous.append({"title": article.title, "href": file_name})
    return rendered
