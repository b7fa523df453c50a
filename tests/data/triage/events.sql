-- Copied from dssg/triage example/label/events.sql at commit 45e5c17d344371128f5687d1b16b975e66d0f1cc (unchanged below this line).
select
    entity_id,
    bool_or(outcome::bool)::integer as outcome
from events
where outcome_date >= '{as_of_date}'
    and outcome_date < '{as_of_date}'::timestamp + interval '{label_timespan}'
group by entity_id
