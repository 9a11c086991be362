"""The published SDK's alert methods against a live server, its worker and a failing model.

The live server is shared by every SDK test, so counts are compared before and after rather
than assumed to start at zero.
"""

import json

import pytest

pytestmark = pytest.mark.live


def test_the_sdk_manages_rules_and_acknowledges_a_real_alert(live, llmsim):
    with live.api() as http:
        account = http.post(
            "/api/v1/providers",
            json={
                "provider_type": "custom_openai_compatible",
                "display_name": "Sim alerts",
                "credentials": {"base_url": f"{llmsim}/v1"},
            },
        ).json()
        model = http.post(
            "/api/v1/models",
            json={
                "provider_account_id": account["id"],
                "model_id": "sim/status=500",
                "enabled_for_monitoring": True,
            },
        ).json()
    script = f"""
import json, time
from arguslm import ArgusLMClient
from arguslm.exceptions import NotFoundError, UnprocessableEntityError
from arguslm.schemas import AlertRuleCreate, AlertRuleUpdate

MODEL = "{model["id"]}"
out = {{}}
with ArgusLMClient() as c:
    out["rules_before"] = len(c.list_alert_rules())
    unread_before = c.get_unread_alert_count().count
    anyr = c.create_alert_rule(AlertRuleCreate(name="Any down (SDK)", rule_type="any_model_down"))
    specific = c.create_alert_rule(AlertRuleCreate(
        name="Sim 500 down", rule_type="specific_model_down", target_model_id=MODEL))
    out["created"] = [anyr.rule_type, anyr.enabled, anyr.notify_in_app, anyr.notify_email,
                      anyr.notify_webhook, anyr.target_model_id, str(specific.target_model_id)]
    try:
        c.create_alert_rule(AlertRuleCreate(name="No target", rule_type="specific_model_down"))
        out["missing_target"] = "accepted"
    except UnprocessableEntityError as exc:
        out["missing_target"] = [exc.status_code, "target_model_id" in str(exc)]
    rules = c.list_alert_rules()
    out["listed"] = [len(rules) - out["rules_before"], [str(r.id) for r in rules[:2]]]
    out["ids"] = [str(specific.id), str(anyr.id)]
    updated = c.update_alert_rule(specific.id, AlertRuleUpdate(name="Sim 500 is down"))
    out["updated"] = [updated.name, updated.enabled, str(updated.target_model_id)]

    out["run"] = c.run_monitoring().status
    mine = {{str(anyr.id), str(specific.id)}}
    deadline = time.monotonic() + 60
    fired = {{}}
    while time.monotonic() < deadline:
        if c.get_unread_alert_count().count > unread_before:
            unread = c.list_alerts(acknowledged=False, limit=500).items
            fired = {{str(a.rule_id): a for a in unread
                     if str(a.rule_id) in mine and str(a.model_id) == MODEL}}
            if len(fired) == 2:
                break
        time.sleep(0.25)
    # The evaluation may still be raising alerts for other down models: wait for it to settle.
    previous = -1
    while time.monotonic() < deadline:
        count = c.get_unread_alert_count().count
        if count == previous:
            break
        previous = count
        time.sleep(0.5)
    out["fired_rules"] = sorted(fired)
    unread = c.list_alerts(acknowledged=False, limit=500)
    out["unread_list"] = [len(unread.items) == unread.unacknowledged_count,
                          all(not a.acknowledged for a in unread.items)]
    recent = c.get_recent_alerts()
    count = c.get_unread_alert_count().count
    out["recent"] = [0 < len(recent.items) <= 10, recent.total_unread == count]
    out["unread_grew"] = count > unread_before

    alert = fired[str(specific.id)]
    acked = c.acknowledge_alert(alert.id)
    out["acked"] = [str(acked.id) == str(alert.id), acked.acknowledged, str(acked.rule_id)]
    out["count_drop"] = count - c.get_unread_alert_count().count
    out["ack_again"] = c.acknowledge_alert(alert.id).acknowledged
    out["count_drop_again"] = count - c.get_unread_alert_count().count
    out["still_unread"] = str(alert.id) in {{str(a.id) for a in
                                             c.list_alerts(acknowledged=False, limit=500).items}}

    c.delete_alert_rule(specific.id)
    c.delete_alert_rule(anyr.id)
    out["rules_after"] = len(c.list_alert_rules()) - out["rules_before"]
    remaining = {{str(a.rule_id) for a in c.list_alerts(limit=500).items}}
    out["alerts_gone"] = not (remaining & mine)
    try:
        c.delete_alert_rule(anyr.id)
        out["delete_again"] = "deleted"
    except NotFoundError as exc:
        out["delete_again"] = exc.status_code
print(json.dumps(out))
"""
    out = json.loads(live.sdk(script, timeout=150).strip().splitlines()[-1])
    specific_id, any_id = out["ids"]
    assert out["created"] == [
        "any_model_down",
        True,
        True,
        False,
        False,
        None,
        model["id"],
    ]
    assert out["missing_target"] == [422, True]
    assert out["listed"] == [2, [specific_id, any_id]]  # newest first
    assert out["updated"] == ["Sim 500 is down", True, model["id"]]
    assert out["run"] == "queued"
    assert out["fired_rules"] == sorted([specific_id, any_id])
    assert out["unread_list"] == [True, True]
    assert out["recent"] == [True, True] and out["unread_grew"] is True
    assert out["acked"] == [True, True, specific_id]
    assert out["count_drop"] == 1 and out["ack_again"] is True and out["count_drop_again"] == 1
    assert out["still_unread"] is False
    assert out["rules_after"] == 0 and out["alerts_gone"] is True
    assert out["delete_again"] == 404
