"""Tags in a real browser: the model page's form (a refused tag, then saved ones) and the
Providers page's edit form, readable in both themes."""

import pytest
from playwright.sync_api import expect

from providers import tags
from tests.browser.helpers import log_in, set_theme, shoot_both_themes
from tests.factories import make_account, make_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# WCAG contrast of an element's text on the first opaque background behind it.
CONTRAST = """el => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let node = el, bg = null;
  while (node && !bg) {
    const value = rgb(getComputedStyle(node).backgroundColor);
    if (value.length < 4 || value[3] > 0) bg = value;
    node = node.parentElement;
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_tags_are_set_on_the_model_page_and_the_providers_page(page, live_server, shot):
    account = make_account(display_name="Prod")
    tags.set_tags(account, ["env:prod"])
    model = make_model(account, model_id="fast-small")
    base = live_server.url
    log_in(page, base)

    page.goto(f"{base}/monitoring/models/{model.pk}")
    section = page.locator("#tags")
    expect(section.locator(".tag-chip.inherited")).to_have_text("env:prod (from the account)")
    field = section.get_by_label("This model's tags")
    field.fill("team:search, Bad Tag!")
    section.get_by_role("button", name="Save tags").click()
    expect(page.locator("#model-tags-error")).to_contain_text("'tag!' is not a tag")
    expect(page.get_by_label("This model's tags")).to_have_attribute("aria-invalid", "true")
    shoot_both_themes(page, shot, "model-tags-error")

    page.get_by_label("This model's tags").fill("team:search tier:gold")
    page.get_by_role("button", name="Save tags").click()
    page.wait_for_url(f"{base}/monitoring/models/{model.pk}#tags")
    expect(page.locator(".messages")).to_contain_text("team:search, tier:gold")
    expect(page.locator("#tags .tag-chip:not(.inherited)")).to_have_text(
        ["team:search", "tier:gold"]
    )
    for theme in ("light", "dark"):
        set_theme(page, theme)
        for chip in ("#tags .tag-chip:not(.inherited)", "#tags .tag-chip.inherited"):
            ratio = page.locator(chip).first.evaluate(CONTRAST)
            assert ratio >= 4.5, (theme, chip, ratio)
    shoot_both_themes(page, shot, "model-tags")

    page.goto(f"{base}/providers")
    card = page.locator(f"#provider-{account.pk}")
    card.locator("summary", has_text="Edit").click()
    card.get_by_role("textbox", name="Tags").fill("env:prod region:eu")
    card.get_by_role("button", name="Save changes").click()
    expect(card.locator(".facts .tag-chip")).to_have_text(["env:prod", "region:eu"])
    shoot_both_themes(page, shot, "providers-tags")
    assert sorted(account.tags.values_list("name", flat=True)) == ["env:prod", "region:eu"]
    assert page.errors == []
