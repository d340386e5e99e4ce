"""The text the tiny tokenizers of the tests and the quickstart are trained on (any backbone's)."""

__all__ = ["TINY_CORPUS"]

TINY_CORPUS = """\
Tell me the district where this image was captured. In which urban district was this photo taken?
Can you identify which district this is? What district is shown in this photograph? Which street is this?
Identify the street in this image, please. What is the street seen in this picture called? Yes No
Is this image taken on the street, Yes or No? Is this image taken in the district, Yes or No?
Which of the following street correctly represents the location shown in the image? (A) (B) (C) (D)
Please select the correct option (A/B/C/D). Answer the question using a single word or phrase.
Which street and district is the image located? Answer the question using a single phrase.
The street view in the top-right corner matches the labelled road on the satellite map, next to the park,
the river, the square and the buildings along the avenue, road, lane, boulevard, bridge and harbour.
Street Avenue Road Lane Boulevard Square Place Park Drive Court katu tie kuja polku ranta puisto tori
Aleksanterinkatu Mannerheimintie Kaivokatu Kluuvi Kaartinkaupunki Kaisaniemi Siltasaari Hakaniemi Keskusta
Forbes Avenue Liberty Avenue Downtown Oakland South Side Flats Market Street Mission District
"""
"""Address-question text: the paper's question templates, answer words and a few street and district names."""
