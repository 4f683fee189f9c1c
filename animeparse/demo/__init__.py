"""The demo room, the top of the library: synthetic faces with exact masks (:mod:`.synth`), stores with known
defects for the checks (:mod:`.defects`) and the end-to-end demo pipeline (:mod:`.pipeline`, ``animeparse demo``).

Nothing below imports from here. Import the submodules directly (``from animeparse.demo.synth import
generate_face``); this ``__init__`` imports nothing, so the generator does not pull in the pipeline's commands.
"""
