-- Copied from dssg/triage example/cohort/past_events.sql at commit 45e5c17d344371128f5687d1b16b975e66d0f1cc (unchanged below this line).
select entity_id
from events
where outcome_date < '{as_of_date}'
