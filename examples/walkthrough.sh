#!/usr/bin/env bash
# The README's five-minute walkthrough as one script: log in, create an app and
# a form, add records, query them, and see the error for a bad record.
# Usage: FW=http://127.0.0.1:8080 PW='<demo password from the banner>' examples/walkthrough.sh
set -euo pipefail
FW=${FW:-http://127.0.0.1:8080}
: "${PW:?set PW to the demo password printed at first start}"
json='content-type: application/json'
field() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\\1/"; }

TOKEN=$(curl -sf "$FW/api/v1/auth/login" -H "$json" \
  -d "{\"tenant\":\"demo\",\"email\":\"admin@demo.local\",\"password\":\"$PW\"}" | field token)
AUTH="Authorization: Bearer $TOKEN"
echo "== me";  curl -sf "$FW/api/v1/me" -H "$AUTH"; echo

APP=$(curl -sf "$FW/api/v1/apps" -H "$AUTH" -H "$json" -d '{"name":"CRM walkthrough"}' | field id)
FORM=$(curl -sf "$FW/api/v1/apps/$APP/forms" -H "$AUTH" -H "$json" -d '{
  "name": "Customers",
  "fields": [
    {"key": "name", "label": "Name", "type": "text", "required": true, "max_length": 100},
    {"key": "email", "label": "Email", "type": "email", "unique": true},
    {"key": "tier", "label": "Tier", "type": "select", "indexed": true,
     "options": [{"value": "VIP", "color": "#d4380d"}, {"value": "regular"}]},
    {"key": "total_spent", "label": "Total spent", "type": "number", "min": 0, "indexed": true}
  ]}' | sed -E 's/^\{"id":"([^"]+)".*/\1/')
echo "== app $APP, form $FORM"

for row in '{"name":"Ada","email":"ada@example.com","tier":"VIP","total_spent":1200}' \
           '{"name":"Bob","email":"bob@example.com","tier":"regular","total_spent":80}' \
           '{"name":"Cy","email":"cy@example.com","tier":"VIP","total_spent":5300}'; do
  curl -sf "$FW/api/v1/forms/$FORM/records" -H "$AUTH" -H "$json" -d "{\"data\":$row}"; echo
done

echo "== VIP customers, biggest spenders first"
curl -sf "$FW/api/v1/forms/$FORM/records/query" -H "$AUTH" -H "$json" -d '{
  "filter": {"and": [{"field": "tier", "op": "eq", "value": "VIP"}]},
  "sort": [{"field": "total_spent", "dir": "desc"}],
  "limit": 10, "total": true}'; echo

echo "== a bad record (expect 422 with one detail per field)"
curl -s -w '\nHTTP %{http_code}\n' "$FW/api/v1/forms/$FORM/records" -H "$AUTH" -H "$json" \
  -d '{"data":{"total_spent":"lots"}}'
