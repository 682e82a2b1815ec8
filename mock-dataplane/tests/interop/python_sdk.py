"""Drive rudder-sdk-python against a data plane: identify/track/group/page/alias, gzip on,
default batching. Usage: python_sdk.py URL WRITE_KEY RUN_ID. Exit 1 if the SDK reported errors."""
import json
import sys

from rudderstack.analytics import Client

url, key, run = sys.argv[1:4]
errors = []
client = Client(
    write_key=key,
    host=url,
    gzip=True,
    on_error=lambda e, batch: errors.append(repr(e)),
)
user = f"{run}-user"
client.identify(user, {"email": "a@example.com", "plan": "pro"})
client.track(user, "Order Completed", {"revenue": 9.99, "currency": "EUR"})
client.group(user, "group-1", {"name": "Acme"})
client.page(user, "Docs", "Home", {"url": "http://example.com"})
client.alias(f"{run}-old", user)
client.flush()
client.join()
if errors:
    print(json.dumps(errors))
    sys.exit(1)
print("sent 5")
