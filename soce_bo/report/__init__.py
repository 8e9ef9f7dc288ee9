"""Turn a run's results.json into report.md + report.html with plots (`python -m soce_bo.report`)."""
