"""Run monitoring beside `make dev`: Dagster's daemon cannot tell that the process of a command's
run (executed in-process by `prodline load` or `prodline demo`) has died, so this sensor does."""

import dagster as dg

from prodline.instance import release_dead_runs
from prodline.sensors import interval


def dead_runs_sensor(every: int | None = None) -> dg.SensorDefinition:
    @dg.sensor(name="dead_runs", minimum_interval_seconds=interval(30, every),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Marks failed the runs of commands whose process has died, and frees the "
                           "warehouse slots they (or any ended run) still hold.")
    def dead_runs(context: dg.SensorEvaluationContext):
        released = release_dead_runs(context.instance)
        for line in released:
            context.log.warning(line)
        return dg.SkipReason("\n".join(released) or "every run that holds a slot is alive")

    return dead_runs
