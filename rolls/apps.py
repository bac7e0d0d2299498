from django.apps import AppConfig


class RollsConfig(AppConfig):
    name = "rolls"
    verbose_name = "VRP-CS position and rolls"

    def ready(self):
        # The naked-leg check (sleeves, a floor below) asks which roll is in progress through this hook.
        from rolls.in_progress import roll_in_progress
        from sleeves import naked_legs

        if roll_in_progress not in naked_legs.ROLL_IN_PROGRESS:
            naked_legs.ROLL_IN_PROGRESS.append(roll_in_progress)
