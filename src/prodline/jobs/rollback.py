"""The champion moved back by an automatic response (`monitoring.on_decay: rollback`): a job of one
op, so the move is a run with its own logs, and recorded like any rollback (who: the run; why: the
shortfall that set it off)."""

import dagster as dg

from prodline.config import ProjectConfig
from prodline.pipeline.champion.rolling_back import rollback

OP = "roll_back_champion"


def rollback_job(config: ProjectConfig) -> dg.JobDefinition:
    @dg.op(name=OP, required_resource_keys={"warehouse", "model_store"},
           config_schema={"reason": dg.Field(str, description="why the champion is moved back")})
    def roll_back_champion(context: dg.OpExecutionContext) -> dg.Output:
        try:
            moved = rollback(config, context.resources.warehouse, context.resources.model_store,
                             actor=f"automatic: dagster run {context.run.run_id}",
                             reason=context.op_config["reason"])
        except ValueError as refused:  # no earlier champion passed the gate: say so, move nothing
            raise dg.Failure(description=f"the champion was not moved back: {refused}",
                             allow_retries=False) from None
        context.log.info(f"champion moved back from version {moved['from_version']} to "
                         f"{moved['to_version']}: {moved['reason']}")
        return dg.Output(None, metadata={"from_version": moved["from_version"],
                                         "to_version": moved["to_version"], "reason": moved["reason"]})

    @dg.job(name=config.own("roll_back_champion"),
            description="Move the champion back to the previous one that passed the promotion gate "
                        "(the response to decay, `monitoring.on_decay: rollback`).")
    def roll_back() -> None:
        roll_back_champion()

    return roll_back
