"""The KPI dashboard (docs/dashboard.md): the report's page, live, with filters, drill-down
and a language switch; served inside `connector serve` and alone by `connector dashboard`."""
