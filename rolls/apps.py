from django.apps import AppConfig


class RollsConfig(AppConfig):
    name = "rolls"
    verbose_name = "VRP-CS position and rolls"

    def ready(self):
        # The naked-leg check (sleeves, a floor below) asks which roll is in progress through this hook.
        # A fill reversed on the Fills page resolves a finished roll's alerts at once.
        from rolls.in_progress import roll_in_progress
        from rolls.roll_service import after_fill_reversed
        from sleeves import naked_legs, services

        if roll_in_progress not in naked_legs.ROLL_IN_PROGRESS:
            naked_legs.ROLL_IN_PROGRESS.append(roll_in_progress)
        if after_fill_reversed not in services.AFTER_REVERSAL:
            services.AFTER_REVERSAL.append(after_fill_reversed)
