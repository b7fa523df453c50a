"""prodline: research-to-production ML pipelines on Dagster."""
