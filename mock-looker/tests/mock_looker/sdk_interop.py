"""Drives mock-looker with the official Python SDK (looker_sdk), as a Looker admin would.

Reads LOOKERSDK_* from the environment and HUB_URL; prints one JSON summary line."""
import json
import os
import time

import looker_sdk
from looker_sdk import models40 as models

sdk = looker_sdk.init40()
hub_url = os.environ["HUB_URL"]

hub = sdk.create_integration_hub(models.WriteIntegrationHub(url=hub_url, authorization_token="hub-token"))
integrations = sdk.all_integrations(integration_hub_id=hub.id)
names = sorted(i.id for i in integrations)
identify = f"{hub.id}::identify"
updated = sdk.update_integration(
    identify,
    models.WriteIntegration(
        enabled=True,
        params=[
            models.IntegrationParam(name="write_key", value="wk-from-sdk"),
            models.IntegrationParam(name="server_url", value="http://dp.local"),
        ],
    ),
)
form = sdk.fetch_integration_form(f"{hub.id}::track", body={"kind": "b"})
plan = sdk.scheduled_plan_run_once(
    models.WriteScheduledPlan(
        name="Send users once",
        look_id="1",
        send_all_results=True,
        scheduled_plan_destination=[
            models.ScheduledPlanDestination(
                type=f"looker-integration://{identify}",
                format="json_detail_lite_stream",
                parameters="{}",
                apply_formatting=False,
                apply_vis=False,
                address="",
            )
        ],
    )
)
history = []
for _ in range(100):
    raw = sdk.run_inline_query(
        "json",
        models.WriteQuery(
            model="system__activity",
            view="scheduled_plan",
            fields=["scheduled_plan.id", "scheduled_job.status", "scheduled_job.status_detail", "scheduled_plan_destination.type"],
            filters={"scheduled_plan.id": plan.id},
        ),
    )
    history = json.loads(raw)
    if history and history[0]["scheduled_job.status"] != "running":
        break
    time.sleep(0.1)
events = json.loads(
    sdk.run_inline_query(
        "json",
        models.WriteQuery(model="system__activity", view="event", fields=["event.name", "event.count"], sorts=["event.name"]),
    )
)
look = sdk.look("1")
csv = sdk.run_look("1", "csv")
hubs = sdk.all_integration_hubs()
sdk.auth.logout()
print(
    json.dumps(
        {
            "hub_id": hub.id,
            "hub_label": hub.label,
            "integrations": names,
            "identify_enabled": updated.enabled,
            "identify_params": [(p.name, p.has_value, p.value) for p in updated.params],
            "form_fields": [f.name for f in form.fields],
            "plan_run_once": plan.run_once,
            "history": history,
            "events": events,
            "look_title": look.title,
            "look_model": look.query.model,
            "csv_first_line": csv.splitlines()[0],
            "hub_count": len(hubs),
        }
    )
)
