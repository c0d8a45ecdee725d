"""What-if planner for one intermediate care service group (issue 15): a pure engine, no store access.

`scenario.parse_scenario(dict)` checks a scenario; `engine.simulate(scenario)` runs it;
`engine.compare([...])` runs several with common random numbers; `outlook` is the 10-day queue outlook.
"""
